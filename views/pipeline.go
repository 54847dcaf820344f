package views

import (
	"strconv"

	"github.com/crmteam/crm/store"
)

// PipelinePath is the admins' pipeline settings page.
const PipelinePath = "/admin/pipeline"

// StagePath is where a stage's settings form posts.
func StagePath(id int) string { return PipelinePath + "/stages/" + strconv.Itoa(id) }

// ReasonPath is where a lost reason's forms post.
func ReasonPath(id int16) string { return PipelinePath + "/reasons/" + strconv.Itoa(int(id)) }

// PipelineData is what the pipeline settings page shows.
type PipelineData struct {
	Stages   []store.Stage
	Reasons  []store.LostReason
	Settings store.PipelineSettings
	// Notice says what the last action did; Error why it was refused.
	Notice, Error string
}

func stageField(id int, field string) string { return "stage-" + strconv.Itoa(id) + "-" + field }

func rotValue(d *int) string {
	if d == nil {
		return ""
	}
	return strconv.Itoa(*d)
}

func kindLabel(kind string) string {
	switch kind {
	case store.StageWon:
		return "won (an outcome)"
	case store.StageLost:
		return "lost (an outcome)"
	}
	return "open"
}
