-- bookpipe warehouse, version 3, PostgreSQL: a slice's cost does not grow with history.
--
-- books, authors and book_authors are partitioned by ds (one partition per day, all subjects;
-- `load` creates the day's partition, then ANALYZEs only it), so a slice's DELETE, its COPY, its
-- statistics and its gold queries touch one day, not every day loaded so far; every table is
-- indexed on (subject, ds). Measured with the history benchmark (docs/benchmarks.md): indexes alone
-- left load growing with history (ANALYZE of whole tables); partitions keep it flat.
--
-- An existing warehouse is moved over without losing a row (tests/it/warehouse_history.rs): each
-- table is renamed, its partitioned successor created with the same columns and constraints, a
-- partition made for every ds it holds, the rows copied, the old table dropped. The latest_* views
-- are recreated over the new tables; the privileges granted on the tables and views are granted
-- again on their successors. (On a large warehouse, this runs once, in the first load's migration
-- transaction. A view of the user's own over these tables makes it stop with PostgreSQL's message.)
CREATE TEMP TABLE bookpipe_grants ON COMMIT DROP AS
    SELECT c.relname AS name, a.grantee, a.privilege_type, a.is_grantable
    FROM pg_class c, aclexplode(c.relacl) a
    WHERE c.relnamespace = current_schema()::regnamespace
      AND c.relname IN ('books', 'authors', 'book_authors', 'latest_books', 'latest_authors', 'latest_book_authors');

DROP VIEW IF EXISTS latest_books;
DROP VIEW IF EXISTS latest_authors;
DROP VIEW IF EXISTS latest_book_authors;

DO $$
DECLARE
    t TEXT;
    d DATE;
BEGIN
    FOREACH t IN ARRAY ARRAY['books', 'authors', 'book_authors'] LOOP
        EXECUTE format('ALTER TABLE %I RENAME TO %I', t, t || '_v2');
        EXECUTE format(
            'CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS) PARTITION BY LIST (ds)',
            t, t || '_v2');
        FOR d IN EXECUTE format('SELECT DISTINCT ds FROM %I', t || '_v2') LOOP
            EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES IN (%L)',
                t || '_d' || to_char(d, 'YYYYMMDD'), t, d);
        END LOOP;
        EXECUTE format('INSERT INTO %I SELECT * FROM %I', t, t || '_v2');
        EXECUTE format('DROP TABLE %I', t || '_v2');
        EXECUTE format('CREATE INDEX %I ON %I (subject, ds)', t || '_slice', t);
    END LOOP;
END
$$;

CREATE INDEX IF NOT EXISTS loads_slice ON loads (subject, ds);
CREATE INDEX IF NOT EXISTS author_books_per_year_slice ON author_books_per_year (subject, ds);
CREATE INDEX IF NOT EXISTS author_yearly_average_slice ON author_yearly_average (subject, ds);
CREATE INDEX IF NOT EXISTS books_per_year_slice ON books_per_year (subject, ds);

CREATE VIEW latest_books AS
    SELECT t.* FROM books t
    JOIN (SELECT subject, max(ds) AS ds FROM loads GROUP BY subject) l ON t.subject = l.subject AND t.ds = l.ds;

CREATE VIEW latest_authors AS
    SELECT t.* FROM authors t
    JOIN (SELECT subject, max(ds) AS ds FROM loads GROUP BY subject) l ON t.subject = l.subject AND t.ds = l.ds;

CREATE VIEW latest_book_authors AS
    SELECT t.* FROM book_authors t
    JOIN (SELECT subject, max(ds) AS ds FROM loads GROUP BY subject) l ON t.subject = l.subject AND t.ds = l.ds;

DO $$
DECLARE
    g RECORD;
BEGIN
    FOR g IN SELECT * FROM bookpipe_grants LOOP
        EXECUTE format('GRANT %s ON %I TO %s%s', g.privilege_type, g.name,
            CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(g.grantee)) END,
            CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
END
$$;
