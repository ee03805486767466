-- CREATE TABLE with every column type, Matryoshka bands and options
CREATE TABLE code (
  id BIGINT PRIMARY KEY, lang TEXT, path VARCHAR(200), label PATH, stars DOUBLE PRECISION,
  public BOOLEAN, seen TIMESTAMP,
  embedding VECTOR(8) MATRYOSHKA (2, 4)
) WITH (metric = 'cosine', recall_target = 0.9);
DESCRIBE code;
CREATE TABLE IF NOT EXISTS code (id BIGINT PRIMARY KEY, v VECTOR(3));
CREATE TABLE docs (doc_id INT, body TEXT, v VECTOR(3), PRIMARY KEY (doc_id)) WITH (metric = 'l2');
CREATE TABLE "MixedCase" (id BIGINT PRIMARY KEY, v VECTOR(2)) WITH (metric = 'dot');
\dt
\d docs
DROP TABLE docs;
DROP TABLE IF EXISTS docs;
SHOW TABLES;
