-- Migration 2 for Amazon Redshift: book_authors.listed_author_key (see ../0002_listed_author_key.sql).
ALTER TABLE book_authors ADD COLUMN listed_author_key VARCHAR(65535);

CREATE OR REPLACE VIEW latest_book_authors AS
    SELECT t.* FROM book_authors t
    JOIN (SELECT subject, max(ds) AS ds FROM loads GROUP BY subject) l ON t.subject = l.subject AND t.ds = l.ds;
