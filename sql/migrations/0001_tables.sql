-- bookpipe warehouse, version 1: the silver tables, the gold answers and the latest_* views.
-- One text for DuckDB and PostgreSQL (Redshift reads the same types). Every table carries the
-- (subject, ds) slice it belongs to; load and aggregate replace whole slices in one transaction.
-- No primary keys: Open Library keys are unique within a slice by construction (transform
-- de-duplicates) and the tests check it; on Redshift they would be informational only.

CREATE TABLE IF NOT EXISTS books (
    subject            VARCHAR  NOT NULL,
    ds                 DATE     NOT NULL,
    work_key           VARCHAR  NOT NULL,
    title              VARCHAR  NOT NULL,
    first_publish_year SMALLINT,
    edition_count      INTEGER,
    cover_id           BIGINT,
    has_fulltext       BOOLEAN,
    public_scan        BOOLEAN
);

CREATE TABLE IF NOT EXISTS authors (
    subject     VARCHAR  NOT NULL,
    ds          DATE     NOT NULL,
    author_key  VARCHAR  NOT NULL,
    name        VARCHAR,
    birth_date  VARCHAR,
    death_date  VARCHAR,
    birth_year  SMALLINT,
    death_year  SMALLINT,
    bio         VARCHAR,
    wikidata    VARCHAR,
    viaf        VARCHAR,
    isni        VARCHAR,
    from_record BOOLEAN  NOT NULL
);

CREATE TABLE IF NOT EXISTS book_authors (
    subject    VARCHAR NOT NULL,
    ds         DATE    NOT NULL,
    work_key   VARCHAR NOT NULL,
    author_key VARCHAR NOT NULL,
    position   INTEGER NOT NULL CHECK (position >= 0)
);

-- Which slices are loaded: the latest_* views follow it.
CREATE TABLE IF NOT EXISTS loads (
    subject      VARCHAR   NOT NULL,
    ds           DATE      NOT NULL,
    books        BIGINT    NOT NULL,
    authors      BIGINT    NOT NULL,
    book_authors BIGINT    NOT NULL,
    loaded_at    TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS author_books_per_year (
    subject     VARCHAR NOT NULL,
    ds          DATE    NOT NULL,
    author_key  VARCHAR NOT NULL,
    author_name VARCHAR,
    year        INTEGER NOT NULL,
    books       BIGINT  NOT NULL
);

CREATE TABLE IF NOT EXISTS author_yearly_average (
    subject                   VARCHAR NOT NULL,
    ds                        DATE    NOT NULL,
    author_key                VARCHAR NOT NULL,
    author_name               VARCHAR,
    total_books               BIGINT  NOT NULL,
    dated_books               BIGINT  NOT NULL,
    first_year                INTEGER,
    last_year                 INTEGER,
    active_years              BIGINT  NOT NULL,
    avg_books_per_active_year DOUBLE PRECISION,
    avg_books_per_career_year DOUBLE PRECISION
);

CREATE TABLE IF NOT EXISTS books_per_year (
    subject VARCHAR NOT NULL,
    ds      DATE    NOT NULL,
    year    INTEGER NOT NULL,
    books   BIGINT  NOT NULL,
    authors BIGINT  NOT NULL
);

CREATE OR REPLACE VIEW latest_books AS
    SELECT t.* FROM books t
    JOIN (SELECT subject, max(ds) AS ds FROM loads GROUP BY subject) l ON t.subject = l.subject AND t.ds = l.ds;

CREATE OR REPLACE VIEW latest_authors AS
    SELECT t.* FROM authors t
    JOIN (SELECT subject, max(ds) AS ds FROM loads GROUP BY subject) l ON t.subject = l.subject AND t.ds = l.ds;

CREATE OR REPLACE VIEW latest_book_authors AS
    SELECT t.* FROM book_authors t
    JOIN (SELECT subject, max(ds) AS ds FROM loads GROUP BY subject) l ON t.subject = l.subject AND t.ds = l.ds;
