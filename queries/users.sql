-- name: CountUsers :one
SELECT count(*)::integer
FROM users;

-- LockUserSetup serializes the one-time setup of the first admin: two setups at
-- once would otherwise both see an empty users table.
-- name: LockUserSetup :exec
SELECT pg_advisory_xact_lock(730104);

-- name: InsertUser :one
INSERT INTO users (email, name, password_hash, role)
VALUES (@email, @name, @password_hash, @role)
RETURNING *;

-- name: GetUser :one
SELECT *
FROM users
WHERE id = @id;

-- name: GetUserByEmail :one
SELECT *
FROM users
WHERE lower(email) = lower(@email::text);

-- name: ListUsers :many
SELECT *
FROM users
ORDER BY lower(email), id
LIMIT 1000;

-- name: UpdateUserPassword :execrows
UPDATE users
SET password_hash = @password_hash, password_changed_at = now(), updated_at = now()
WHERE id = @id;

-- name: SetUserActive :execrows
UPDATE users
SET active = @active, updated_at = now()
WHERE id = @id;

-- CountOtherActiveAdmins counts the active admins other than id, so the last one
-- cannot be deactivated.
-- name: CountOtherActiveAdmins :one
SELECT count(*)::integer
FROM users
WHERE role = 'admin' AND active AND id <> @id;

-- LockAdmins locks the rows of the active admins, so two admins deactivating
-- each other at once cannot leave none.
-- name: LockAdmins :many
SELECT id
FROM users
WHERE role = 'admin' AND active
ORDER BY id
FOR UPDATE;

-- name: InsertUserSession :one
INSERT INTO user_sessions (user_id, expires_at)
VALUES (@user_id, @expires_at)
RETURNING id;

-- GetSessionUser returns the user of a signed-in session that has not ended:
-- the session row exists and has not expired, and the user is active.
-- name: GetSessionUser :one
SELECT users.*
FROM user_sessions
JOIN users ON users.id = user_sessions.user_id
WHERE user_sessions.id = @id AND user_sessions.expires_at > now() AND users.active;

-- name: DeleteUserSession :execrows
DELETE FROM user_sessions
WHERE id = @id;

-- DeleteOtherUserSessions ends every session of a user but keep (the one that
-- changed the password); a nil keep ends them all.
-- name: DeleteOtherUserSessions :execrows
DELETE FROM user_sessions
WHERE user_id = @user_id AND id IS DISTINCT FROM sqlc.narg(keep)::uuid;

-- name: DeleteExpiredUserSessions :execrows
DELETE FROM user_sessions
WHERE expires_at < now();
