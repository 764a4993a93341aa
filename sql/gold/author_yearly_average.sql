-- How many books an author writes per year on average, both ways it is read:
--   avg_books_per_active_year = dated_books / active_years (years with at least one book)
--   avg_books_per_career_year = dated_books / (last_year - first_year + 1)
-- Real division; null for an author with no dated work. total_books counts every work.
-- $1 = subject, $2 = ds. From gold_author_years (author_years.sql), one row per author and year
-- (year NULL: the undated works): the sums are works, the rows with a year are the active years.
SELECT s.author_key,
       a.name AS author_name,
       s.total_books,
       s.dated_books,
       s.first_year,
       s.last_year,
       s.active_years,
       CASE WHEN s.dated_books > 0
            THEN CAST(s.dated_books AS DOUBLE PRECISION) / s.active_years END
                                               AS avg_books_per_active_year,
       CASE WHEN s.dated_books > 0
            THEN CAST(s.dated_books AS DOUBLE PRECISION) / (s.last_year - s.first_year + 1) END
                                               AS avg_books_per_career_year
FROM (
    SELECT author_key,
           CAST(sum(books) AS BIGINT)                                      AS total_books,
           CAST(sum(CASE WHEN year IS NOT NULL THEN books ELSE 0 END) AS BIGINT) AS dated_books,
           min(year)                                                       AS first_year,
           max(year)                                                       AS last_year,
           count(year)                                                     AS active_years
    FROM gold_author_years
    GROUP BY author_key
) s
LEFT JOIN authors a
  ON a.subject = $1 AND a.ds = CAST($2 AS DATE) AND a.author_key = s.author_key
