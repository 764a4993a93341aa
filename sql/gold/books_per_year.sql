-- Books first published each year, and how many distinct authors wrote them.
-- $1 = subject, $2 = ds. Each author's total is in author_yearly_average.total_books.
SELECT CAST(b.first_publish_year AS INTEGER) AS year,
       count(DISTINCT b.work_key)   AS books,
       count(DISTINCT ba.author_key) AS authors
FROM books b
LEFT JOIN book_authors ba
  ON ba.subject = b.subject AND ba.ds = b.ds AND ba.work_key = b.work_key
WHERE b.subject = $1 AND b.ds = CAST($2 AS DATE)
  AND b.first_publish_year IS NOT NULL
GROUP BY b.first_publish_year
