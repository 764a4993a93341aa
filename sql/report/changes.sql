-- What changed from the slice ($1, $3) to the slice ($1, $2): works added and removed, authors new.
SELECT
    (SELECT count(*) FROM books c
        WHERE c.subject = $1 AND c.ds = CAST($2 AS DATE)
          AND NOT EXISTS (SELECT 1 FROM books p
                          WHERE p.subject = $1 AND p.ds = CAST($3 AS DATE) AND p.work_key = c.work_key))
        AS works_added,
    (SELECT count(*) FROM books p
        WHERE p.subject = $1 AND p.ds = CAST($3 AS DATE)
          AND NOT EXISTS (SELECT 1 FROM books c
                          WHERE c.subject = $1 AND c.ds = CAST($2 AS DATE) AND c.work_key = p.work_key))
        AS works_removed,
    (SELECT count(DISTINCT c.author_key) FROM book_authors c
        WHERE c.subject = $1 AND c.ds = CAST($2 AS DATE)
          AND NOT EXISTS (SELECT 1 FROM book_authors p
                          WHERE p.subject = $1 AND p.ds = CAST($3 AS DATE) AND p.author_key = c.author_key))
        AS new_authors
