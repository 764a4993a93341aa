-- Books first published each year, and how many distinct authors wrote them.
-- $1 = subject, $2 = ds. Each author's total is in author_yearly_average.total_books.
-- Books counted from books alone (one row per work), authors from gold_author_years
-- (author_years.sql: one row per author and year).
SELECT y.year,
       y.books,
       coalesce(x.authors, 0) AS authors
FROM (
    SELECT CAST(first_publish_year AS INTEGER) AS year,
           count(*)                          AS books
    FROM books
    WHERE subject = $1 AND ds = CAST($2 AS DATE)
      AND first_publish_year IS NOT NULL
    GROUP BY first_publish_year
) y
LEFT JOIN (
    SELECT year,
           count(*) AS authors
    FROM gold_author_years
    WHERE year IS NOT NULL
    GROUP BY year
) x ON x.year = y.year
