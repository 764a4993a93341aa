-- How many books each author wrote each year: distinct works whose first_publish_year is `year`.
-- $1 = subject, $2 = ds. Works without a year count in no year (see author_yearly_average).
-- Read from gold_author_years (author_years.sql), named after (an author has one name per slice).
SELECT y.author_key,
       a.name AS author_name,
       y.year,
       y.books
FROM gold_author_years y
LEFT JOIN authors a
  ON a.subject = $1 AND a.ds = CAST($2 AS DATE) AND a.author_key = y.author_key
WHERE y.year IS NOT NULL
