CREATE TABLE f (id BIGINT PRIMARY KEY, name TEXT, note TEXT, v VECTOR(3));
INSERT INTO f VALUES (1, 'plain', 'a, "quoted" note', '[0.5, 0.25, 1]'), (2, NULL, 'line one
line two', '[1, 2, 3]');
\format csv
SELECT * FROM f;
\format json
SELECT * FROM f;
INSERT INTO f VALUES (3, 'three', NULL, '[0, 0, 1]');
\format jsonl
SELECT id, name FROM f;
\format table
SELECT id, name, note FROM f;
CREATE TABLE long (id BIGINT PRIMARY KEY, body TEXT, v VECTOR(16));
INSERT INTO long VALUES (1, 'a body that is much longer than forty-eight characters, so the table shortens it', '[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]');
SELECT * FROM long;
\format nope
