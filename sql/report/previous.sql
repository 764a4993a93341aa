-- The subject's loaded ds before $2 (NULL on its first day).
SELECT CAST(max(ds) AS VARCHAR) AS previous FROM loads WHERE subject = $1 AND ds < CAST($2 AS DATE)
