-- The report's headline for one slice ($1 subject, $2 ds): works, how many have a first publish year
-- and which years they span, authors, authors without their own record, merged authors listed.
SELECT
    (SELECT count(*) FROM books WHERE subject = $1 AND ds = CAST($2 AS DATE)) AS works,
    (SELECT count(first_publish_year) FROM books WHERE subject = $1 AND ds = CAST($2 AS DATE)) AS dated_works,
    (SELECT CAST(min(first_publish_year) AS INTEGER) FROM books WHERE subject = $1 AND ds = CAST($2 AS DATE))
        AS first_year,
    (SELECT CAST(max(first_publish_year) AS INTEGER) FROM books WHERE subject = $1 AND ds = CAST($2 AS DATE))
        AS last_year,
    (SELECT count(*) FROM authors WHERE subject = $1 AND ds = CAST($2 AS DATE)) AS authors,
    (SELECT count(*) FROM authors WHERE subject = $1 AND ds = CAST($2 AS DATE) AND NOT from_record)
        AS authors_without_record,
    (SELECT count(DISTINCT listed_author_key) FROM book_authors
        WHERE subject = $1 AND ds = CAST($2 AS DATE) AND listed_author_key <> author_key) AS merged_authors
