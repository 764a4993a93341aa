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
-- $1 = subject, $2 = ds, spliced in as literals (CREATE TABLE AS takes no parameters).
SELECT ba.author_key,
       CAST(b.first_publish_year AS INTEGER) AS year,
       count(*)                              AS books
FROM book_authors ba
JOIN books b
  ON b.subject = ba.subject AND b.ds = ba.ds AND b.work_key = ba.work_key
WHERE ba.subject = $1 AND ba.ds = CAST($2 AS DATE)
GROUP BY ba.author_key, b.first_publish_year
