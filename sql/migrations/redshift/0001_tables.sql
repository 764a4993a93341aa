-- Migration 1 for Amazon Redshift: the tables of 0001_tables.sql in Redshift's dialect. Text is
-- VARCHAR(65535) (a bare VARCHAR is 256 bytes there: titles and bios are longer); no CHECK
-- constraints (Redshift has none); every slice table is sorted by (subject, ds), so a slice's DELETE
-- and the gold queries read only its blocks.

CREATE TABLE IF NOT EXISTS books (
    subject            VARCHAR(65535)  NOT NULL,
    ds                 DATE     NOT NULL,
    work_key           VARCHAR(65535)  NOT NULL,
    title              VARCHAR(65535)  NOT NULL,
    first_publish_year SMALLINT,
    edition_count      INTEGER,
    cover_id           BIGINT,
    has_fulltext       BOOLEAN,
    public_scan        BOOLEAN
) COMPOUND SORTKEY (subject, ds);

CREATE TABLE IF NOT EXISTS authors (
    subject     VARCHAR(65535)  NOT NULL,
    ds          DATE     NOT NULL,
    author_key  VARCHAR(65535)  NOT NULL,
    name        VARCHAR(65535),
    birth_date  VARCHAR(65535),
    death_date  VARCHAR(65535),
    birth_year  SMALLINT,
    death_year  SMALLINT,
    bio         VARCHAR(65535),
    wikidata    VARCHAR(65535),
    viaf        VARCHAR(65535),
    isni        VARCHAR(65535),
    from_record BOOLEAN  NOT NULL
) COMPOUND SORTKEY (subject, ds);

CREATE TABLE IF NOT EXISTS book_authors (
    subject    VARCHAR(65535) NOT NULL,
    ds         DATE    NOT NULL,
    work_key   VARCHAR(65535) NOT NULL,
    author_key VARCHAR(65535) NOT NULL,
    position   INTEGER NOT NULL
) COMPOUND SORTKEY (subject, ds);

-- Which slices are loaded: the latest_* views follow it.
CREATE TABLE IF NOT EXISTS loads (
    subject      VARCHAR(65535)   NOT NULL,
    ds           DATE      NOT NULL,
    books        BIGINT    NOT NULL,
    authors      BIGINT    NOT NULL,
    book_authors BIGINT    NOT NULL,
    loaded_at    TIMESTAMP NOT NULL
) COMPOUND SORTKEY (subject, ds);

CREATE TABLE IF NOT EXISTS author_books_per_year (
    subject     VARCHAR(65535) NOT NULL,
    ds          DATE    NOT NULL,
    author_key  VARCHAR(65535) NOT NULL,
    author_name VARCHAR(65535),
    year        INTEGER NOT NULL,
    books       BIGINT  NOT NULL
) COMPOUND SORTKEY (subject, ds);

CREATE TABLE IF NOT EXISTS author_yearly_average (
    subject                   VARCHAR(65535) NOT NULL,
    ds                        DATE    NOT NULL,
    author_key                VARCHAR(65535) NOT NULL,
    author_name               VARCHAR(65535),
    total_books               BIGINT  NOT NULL,
    dated_books               BIGINT  NOT NULL,
    first_year                INTEGER,
    last_year                 INTEGER,
    active_years              BIGINT  NOT NULL,
    avg_books_per_active_year DOUBLE PRECISION,
    avg_books_per_career_year DOUBLE PRECISION
) COMPOUND SORTKEY (subject, ds);

CREATE TABLE IF NOT EXISTS books_per_year (
    subject VARCHAR(65535) NOT NULL,
    ds      DATE    NOT NULL,
    year    INTEGER NOT NULL,
    books   BIGINT  NOT NULL,
    authors BIGINT  NOT NULL
) COMPOUND SORTKEY (subject, ds);

CREATE OR REPLACE VIEW latest_books AS
    SELECT t.* FROM books t
    JOIN (SELECT subject, max(ds) AS ds FROM loads GROUP BY subject) l ON t.subject = l.subject AND t.ds = l.ds;

CREATE OR REPLACE VIEW latest_authors AS
    SELECT t.* FROM authors t
    JOIN (SELECT subject, max(ds) AS ds FROM loads GROUP BY subject) l ON t.subject = l.subject AND t.ds = l.ds;

CREATE OR REPLACE VIEW latest_book_authors AS
    SELECT t.* FROM book_authors t
    JOIN (SELECT subject, max(ds) AS ds FROM loads GROUP BY subject) l ON t.subject = l.subject AND t.ds = l.ds;
