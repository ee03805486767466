-- Full SQL on nestdb tables (DataFusion): GROUP BY over labels, joins, CTEs, subqueries,
-- window functions, aliases, SELECT without FROM, distance operators in projections,
-- exact fallback for a metric other than the index's, UPDATE.
CREATE TABLE files (id BIGINT PRIMARY KEY, path TEXT, lang TEXT, v VECTOR(3));
CREATE TABLE chunks (id BIGINT PRIMARY KEY, file_id BIGINT, name TEXT, label PATH, v VECTOR(3));
INSERT INTO files VALUES (1, 'src/a.py', 'python', '[1, 0, 0]'), (2, 'src/b.go', 'go', '[0, 1, 0]'), (3, 'lib/c.rs', 'rust', '[0, 0, 1]');
INSERT INTO chunks VALUES
  (10, 1, 'parse', 'python/declarations/functions', '[1, 0.1, 0]'),
  (11, 1, 'Parser', 'python/declarations/classes', '[0.9, 0.2, 0]'),
  (12, 1, 'Parser.run', 'python/declarations/classes/methods', '[0.8, 0.3, 0.1]'),
  (20, 2, 'main', 'go/declarations/functions', '[0, 1, 0.1]'),
  (21, 2, 'serve', 'go/declarations/functions', '[0.1, 0.9, 0]'),
  (30, 3, 'Store', 'rust/declarations/structs', '[0, 0.1, 1]');
SELECT 1 + 2 AS three, 'x' AS letter;
SELECT label, count(*) AS n FROM chunks GROUP BY label ORDER BY n DESC, label;
SELECT f.lang, count(*) AS chunks FROM chunks c JOIN files f ON c.file_id = f.id GROUP BY f.lang ORDER BY f.lang;
WITH py AS (SELECT id, name, v FROM chunks WHERE label <@ 'python') SELECT id, name FROM py ORDER BY v <=> '[1, 0, 0]' LIMIT 2;
SELECT id, name FROM chunks WHERE file_id IN (SELECT id FROM files WHERE lang = 'go') ORDER BY id;
SELECT id, name, row_number() OVER (PARTITION BY file_id ORDER BY id DESC) AS rn FROM chunks ORDER BY file_id, rn;
SELECT c.name AS chunk, f.path AS file, c.v <=> f.v AS d FROM chunks c JOIN files f ON c.file_id = f.id ORDER BY d, chunk LIMIT 3;
SELECT id, v <-> '[1, 0, 0]' AS l2 FROM chunks ORDER BY v <-> '[1, 0, 0]' LIMIT 2;
EXPLAIN SELECT id FROM chunks ORDER BY v <-> '[1, 0, 0]' LIMIT 2;
EXPLAIN SELECT id FROM chunks WHERE label <@ 'go' AND file_id = 2 ORDER BY v <=> '[0, 1, 0]' LIMIT 2;
UPDATE chunks SET name = 'serve_http' WHERE id = 21;
SELECT id, name FROM chunks WHERE id = 21;
