-- Migration 3 for Amazon Redshift: PostgreSQL partitions its slice tables by day here; Redshift has
-- no declarative partitions, and its slice layout is the (subject, ds) sort key of migration 1. The
-- statistics are refreshed so the planner knows the layout.
ANALYZE books;
ANALYZE authors;
ANALYZE book_authors;
