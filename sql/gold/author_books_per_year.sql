-- How many books each author wrote each year: distinct works whose first_publish_year is `year`.
-- $1 = subject, $2 = ds. Works without a year count in no year (see author_yearly_average).
SELECT ba.author_key,
       a.name                       AS author_name,
       CAST(b.first_publish_year AS INTEGER) AS year,
       count(DISTINCT b.work_key)   AS books
FROM book_authors ba
JOIN books b
  ON b.subject = ba.subject AND b.ds = ba.ds AND b.work_key = ba.work_key
LEFT JOIN authors a
  ON a.subject = ba.subject AND a.ds = ba.ds AND a.author_key = ba.author_key
WHERE ba.subject = $1 AND ba.ds = CAST($2 AS DATE)
  AND b.first_publish_year IS NOT NULL
GROUP BY ba.author_key, a.name, b.first_publish_year
