CREATE TABLE IF NOT EXISTS bookpipe_migrations (version INTEGER NOT NULL, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL);
LOCK bookpipe_migrations;
SELECT max(version) FROM bookpipe_migrations;
INSERT INTO bookpipe_migrations VALUES ($1, $2, GETDATE());
LOCK books, authors, book_authors, loads;
DELETE FROM books WHERE subject = $1 AND ds = CAST($2 AS DATE);
DELETE FROM authors WHERE subject = $1 AND ds = CAST($2 AS DATE);
DELETE FROM book_authors WHERE subject = $1 AND ds = CAST($2 AS DATE);
DELETE FROM loads WHERE subject = $1 AND ds = CAST($2 AS DATE);
CREATE TEMP TABLE bookpipe_stage_books (work_key VARCHAR(65535), title VARCHAR(65535), first_publish_year SMALLINT, edition_count INTEGER, cover_id BIGINT, has_fulltext BOOLEAN, public_scan BOOLEAN);
COPY bookpipe_stage_books FROM 's3://example-bookpipe-lake/prod/silver/books/subject=o''brien/ds=2024-05-01/part-00000.parquet' IAM_ROLE 'arn:aws:iam::123456789012:role/bookpipe-redshift-copy' FORMAT AS PARQUET;
INSERT INTO books (subject, ds, work_key, title, first_publish_year, edition_count, cover_id, has_fulltext, public_scan) SELECT $1, CAST($2 AS DATE), work_key, title, first_publish_year, edition_count, cover_id, has_fulltext, public_scan FROM bookpipe_stage_books;
DROP TABLE bookpipe_stage_books;
CREATE TEMP TABLE bookpipe_stage_authors (author_key VARCHAR(65535), name VARCHAR(65535), birth_date VARCHAR(65535), death_date VARCHAR(65535), birth_year SMALLINT, death_year SMALLINT, bio VARCHAR(65535), wikidata VARCHAR(65535), viaf VARCHAR(65535), isni VARCHAR(65535), from_record BOOLEAN);
COPY bookpipe_stage_authors FROM 's3://example-bookpipe-lake/prod/silver/authors/subject=o''brien/ds=2024-05-01/part-00000.parquet' IAM_ROLE 'arn:aws:iam::123456789012:role/bookpipe-redshift-copy' FORMAT AS PARQUET;
INSERT INTO authors (subject, ds, author_key, name, birth_date, death_date, birth_year, death_year, bio, wikidata, viaf, isni, from_record) SELECT $1, CAST($2 AS DATE), author_key, name, birth_date, death_date, birth_year, death_year, bio, wikidata, viaf, isni, from_record FROM bookpipe_stage_authors;
DROP TABLE bookpipe_stage_authors;
CREATE TEMP TABLE bookpipe_stage_book_authors (work_key VARCHAR(65535), author_key VARCHAR(65535), position INTEGER, listed_author_key VARCHAR(65535));
COPY bookpipe_stage_book_authors FROM 's3://example-bookpipe-lake/prod/silver/book_authors/subject=o''brien/ds=2024-05-01/part-00000.parquet' IAM_ROLE 'arn:aws:iam::123456789012:role/bookpipe-redshift-copy' FORMAT AS PARQUET;
INSERT INTO book_authors (subject, ds, work_key, author_key, position, listed_author_key) SELECT $1, CAST($2 AS DATE), work_key, author_key, position, listed_author_key FROM bookpipe_stage_book_authors;
DROP TABLE bookpipe_stage_book_authors;
INSERT INTO loads VALUES ($1, CAST($2 AS DATE), $3, $4, $5, GETDATE());
SELECT count(*) FROM loads WHERE subject = $1 AND ds = CAST($2 AS DATE);
LOCK author_books_per_year, author_yearly_average, books_per_year;
CREATE TEMP TABLE gold_author_years AS
-- The one pass over the slice's links that all three answers are counted from: per author and
-- year, how many of the author's works were first published that year (year NULL: the works
-- without a first_publish_year). `aggregate` keeps it as the temporary table gold_author_years for
-- the length of its transaction.
--
-- Why one pass: the join of 2 M links to 1 M works by their text keys, and the grouping after it,
-- are most of the aggregate's work; the three answers each did them again (1M works on PostgreSQL:
-- 16 s for the three INSERT … SELECTs, which PostgreSQL plans without parallel workers). Created
-- with CREATE TABLE AS, PostgreSQL computes it on every core (docs/benchmarks.md).
--
-- count(*) counts distinct works: a work is one row of `books` (transform keeps one row per
-- work_key, and load's quality gate refuses a slice whose keys repeat) and a (work, author) pair is
-- one row of `book_authors` (transform keeps one link per person a work lists:
-- records::link_author, transform's one_link_per_person).
-- 'o''brien' = subject, '2024-05-01' = ds, spliced in as literals (CREATE TABLE AS takes no parameters).
SELECT ba.author_key,
       CAST(b.first_publish_year AS INTEGER) AS year,
       count(*)                              AS books
FROM book_authors ba
JOIN books b
  ON b.subject = ba.subject AND b.ds = ba.ds AND b.work_key = ba.work_key
WHERE ba.subject = 'o''brien' AND ba.ds = CAST('2024-05-01' AS DATE)
GROUP BY ba.author_key, b.first_publish_year;
DELETE FROM author_books_per_year WHERE subject = $1 AND ds = CAST($2 AS DATE);
INSERT INTO author_books_per_year (subject, ds, author_key, author_name, year, books) SELECT $1, CAST($2 AS DATE), q.* FROM (-- How many books each author wrote each year: distinct works whose first_publish_year is `year`.
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
) q;
DELETE FROM author_yearly_average WHERE subject = $1 AND ds = CAST($2 AS DATE);
INSERT INTO author_yearly_average (subject, ds, author_key, author_name, total_books, dated_books, first_year, last_year, active_years, avg_books_per_active_year, avg_books_per_career_year) SELECT $1, CAST($2 AS DATE), q.* FROM (-- How many books an author writes per year on average, both ways it is read:
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
) q;
DELETE FROM books_per_year WHERE subject = $1 AND ds = CAST($2 AS DATE);
INSERT INTO books_per_year (subject, ds, year, books, authors) SELECT $1, CAST($2 AS DATE), q.* FROM (-- Books first published each year, and how many distinct authors wrote them.
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
) q;
DROP TABLE gold_author_years;
SELECT author_key, author_name, year, books FROM author_books_per_year WHERE subject = $1 AND ds = CAST($2 AS DATE);
SELECT author_key, author_name, total_books, dated_books, first_year, last_year, active_years, avg_books_per_active_year, avg_books_per_career_year FROM author_yearly_average WHERE subject = $1 AND ds = CAST($2 AS DATE);
SELECT year, books, authors FROM books_per_year WHERE subject = $1 AND ds = CAST($2 AS DATE);
SELECT count(*), count(*) - count(first_publish_year) FROM books WHERE subject = $1 AND ds = CAST($2 AS DATE);
SELECT count(*) FROM information_schema.tables WHERE table_name = 'loads';
SELECT subject, CAST(ds AS VARCHAR), books FROM loads WHERE ds BETWEEN CAST($1 AS DATE) AND CAST($2 AS DATE);
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
        WHERE subject = $1 AND ds = CAST($2 AS DATE) AND listed_author_key <> author_key) AS merged_authors;
-- The subject's loaded ds before $2 (NULL on its first day).
SELECT CAST(max(ds) AS VARCHAR) AS previous FROM loads WHERE subject = $1 AND ds < CAST($2 AS DATE);
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
        AS new_authors;
