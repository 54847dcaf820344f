-- +goose Up
-- An API token's scope: 'api' acts for its user everywhere a token is taken;
-- 'metrics' only reads /metrics, so Prometheus can scrape through the public
-- listener without holding a token that can change the pipeline.
ALTER TABLE api_tokens ADD COLUMN scope text NOT NULL DEFAULT 'api' CHECK (scope IN ('api', 'metrics'));

-- +goose Down
ALTER TABLE api_tokens DROP COLUMN scope;
