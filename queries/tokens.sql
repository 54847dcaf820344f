-- name: InsertAPIToken :one
INSERT INTO api_tokens (user_id, name, token_hash, scope)
VALUES (@user_id, @name, @token_hash, @scope)
RETURNING *;

-- GetTokenUser returns a token with its user, when the user is active.
-- name: GetTokenUser :one
SELECT sqlc.embed(api_tokens), sqlc.embed(users)
FROM api_tokens
JOIN users ON users.id = api_tokens.user_id
WHERE api_tokens.token_hash = @token_hash AND users.active;

-- TouchAPIToken records that a token was used, at most once a minute, so busy
-- clients do not turn every read into a write.
-- name: TouchAPIToken :exec
UPDATE api_tokens
SET last_used_at = now()
WHERE id = @id AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute');

-- name: ListAPITokens :many
SELECT *
FROM api_tokens
WHERE user_id = @user_id
ORDER BY created_at DESC, id
LIMIT 1000;

-- name: DeleteAPIToken :one
DELETE FROM api_tokens
WHERE id = @id AND user_id = @user_id
RETURNING *;
