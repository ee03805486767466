CREATE TABLE c (id BIGINT PRIMARY KEY, lang TEXT, label PATH, v VECTOR(4) MATRYOSHKA (2)) WITH (metric = 'cosine');
INSERT INTO c VALUES
  (1, 'python', 'python/functions', '[1, 0, 0, 0]'),
  (2, 'python', 'python/classes', '[0.9, 0.1, 0, 0]'),
  (3, 'go', 'go/functions', '[0, 1, 0, 0]'),
  (4, 'go', 'go/structs', '[0, 0.9, 0.1, 0]'),
  (5, 'rust', 'rust/functions/nested', '[0, 0, 1, 0]'),
  (6, 'rust', 'rust/traits', '[0, 0, 0, 1]');
SELECT id, _distance FROM c ORDER BY v <=> '[1, 0, 0, 0]' LIMIT 3;
SELECT id, lang FROM c WHERE label <@ 'go' ORDER BY v <=> '[1, 0, 0, 0]' LIMIT 10;
SELECT id FROM c WHERE label @> 'rust/functions/nested/deeper' ORDER BY v <=> '[0, 0, 1, 0]' LIMIT 5;
SELECT id FROM c WHERE lang IN ('python', 'rust') AND NOT label <@ 'python/classes' ORDER BY v <=> '[1, 1, 1, 1]' LIMIT 10;
SELECT id, _distance FROM c ORDER BY v <=> (SELECT v FROM c WHERE id = 3) LIMIT 2;
SELECT * FROM c ORDER BY v <=> '[0, 0, 0, 1]' LIMIT 1;
EXPLAIN SELECT id FROM c WHERE label <@ 'go' ORDER BY v <=> '[1, 0, 0, 0]' LIMIT 2;
EXPLAIN ANALYZE SELECT id FROM c ORDER BY v <=> '[1, 0, 0, 0]' LIMIT 2;
EXPLAIN SELECT id FROM c WHERE lang = 'go';
CREATE TABLE e (id BIGINT PRIMARY KEY, v VECTOR(2)) WITH (metric = 'l2');
INSERT INTO e VALUES (1, '[0, 0]'), (2, '[3, 4]');
SELECT id, _distance FROM e ORDER BY v <-> '[0, 0]' LIMIT 2;
CREATE TABLE d (id BIGINT PRIMARY KEY, v VECTOR(2)) WITH (metric = 'dot');
INSERT INTO d VALUES (1, '[1, 2]'), (2, '[3, 4]');
SELECT id, _distance FROM d ORDER BY v <#> '[1, 1]' LIMIT 2;
