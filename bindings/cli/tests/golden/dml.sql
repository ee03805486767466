CREATE TABLE items (id BIGINT PRIMARY KEY, name TEXT, score DOUBLE, ok BOOLEAN, at TIMESTAMP, label PATH, v VECTOR(3)) WITH (metric = 'l2');
INSERT INTO items VALUES
  (1, 'alpha', 1.5, true, '2024-01-02 03:04:05', 'a/b', '[1, 0, 0]'),
  (2, 'beta', NULL, false, NULL, 'a/c', [0, 1, 0]),
  (3, NULL, -2, NULL, '2024-06-01', NULL, ARRAY[0, 0, 1]);
INSERT INTO items (id, v) VALUES (4, '[1, 1, 1]');
SELECT * FROM items;
SELECT id, name FROM items WHERE score > 0 OR name IS NULL;
SELECT id FROM items WHERE label <@ 'a' ORDER BY id DESC;
SELECT id, name FROM items ORDER BY name LIMIT 2;
SELECT count(*) FROM items;
SELECT count(*) FROM items WHERE ok;
SELECT id, _rowid FROM items WHERE id BETWEEN 2 AND 3;
INSERT INTO items VALUES (2, 'dup', 0, true, NULL, 'x', '[1, 2, 3]');
INSERT INTO items (id, name, v) VALUES (2, 'beta v2', '[0, 2, 0]') ON CONFLICT (id) DO UPDATE SET name = 'beta v2';
SELECT id, name FROM items WHERE id = 2;
DELETE FROM items WHERE name LIKE 'al%';
DELETE FROM items WHERE id IN (3, 99);
SELECT id, name FROM items;
DELETE FROM items;
SELECT count(*) FROM items;
