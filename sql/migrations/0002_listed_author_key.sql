-- bookpipe warehouse, version 2: merged authors. Open Library answers a merged author's old key with
-- a redirect record; transform follows it, so book_authors.author_key is the person (the canonical
-- key, whose record is the authors row) and listed_author_key the key the work lists. Slices loaded
-- before this version have it null. Added last, as the silver Parquet has it.
ALTER TABLE book_authors ADD COLUMN listed_author_key VARCHAR;

CREATE OR REPLACE VIEW latest_book_authors AS
    SELECT t.* FROM book_authors t
    JOIN (SELECT subject, max(ds) AS ds FROM loads GROUP BY subject) l ON t.subject = l.subject AND t.ds = l.ds;
