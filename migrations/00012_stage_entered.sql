-- +goose Up
-- leads_stage_entered keeps stage_entered_at and closed_at true on every path
-- that writes a lead (move_lead, an update that changes status, a create, a
-- restore from the trash, an import, a statement typed in psql), so no writer
-- has to remember them:
--   - a lead that changes stage entered its new stage now;
--   - a lead in a won or lost stage is closed: closed_at is set when it enters
--     one (now) and cleared when it enters an open stage. A created or restored
--     lead keeps the closed_at it is given (an import of old deals), else
--     closes when it entered its stage.
-- Renaming a stage rewrites its leads' status through ON UPDATE CASCADE; that
-- is not a stage change: the old name no longer names a stage when the cascade
-- runs, and the trigger leaves the lead alone.
-- +goose StatementBegin
CREATE FUNCTION leads_stage_entered() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    new_kind text;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.status = OLD.status THEN
            RETURN NEW;
        END IF;
        IF NOT EXISTS (SELECT 1 FROM stages s WHERE s.name = OLD.status) THEN
            RETURN NEW;
        END IF;
        NEW.stage_entered_at := now();
    END IF;
    SELECT s.kind INTO new_kind FROM stages s WHERE s.name = NEW.status;
    IF new_kind = 'open' THEN
        NEW.closed_at := NULL;
    ELSIF TG_OP = 'UPDATE' THEN
        NEW.closed_at := now();
    ELSE
        NEW.closed_at := coalesce(NEW.closed_at, NEW.stage_entered_at);
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER leads_stage_entered BEFORE INSERT OR UPDATE OF status ON leads
FOR EACH ROW EXECUTE FUNCTION leads_stage_entered();

-- +goose Down
DROP TRIGGER leads_stage_entered ON leads;
DROP FUNCTION leads_stage_entered();
