package views

import (
	"strings"

	"github.com/google/uuid"

	"github.com/crmteam/crm/store"
)

// Paths of the assistant panel's fragments. handlers/routes.go mounts the same;
// ChatPanelURL (data.go) is the panel itself.
const (
	ChatSendPath  = "/chat/panel/messages"
	ChatClearPath = "/chat/panel/clear"
)

// ChatReplyPath is a reply's fragment, which a pending reply polls.
func ChatReplyPath(id uuid.UUID) string { return "/chat/panel/replies/" + id.String() }

// DOM ids of the assistant panel.
const (
	// ChatMessagesID is the list of messages; a send appends to it.
	ChatMessagesID ID = "chat-messages"
	// ChatFormID is the message form, replaced empty after each send.
	ChatFormID ID = "chat-form"
	// ChatInputID is the message input.
	ChatInputID ID = "chat-input"
	// ChatErrorID is where the panel shows what went wrong.
	ChatErrorID ID = "chat-error"
)

// ChatMessageID is one message of the panel.
func ChatMessageID(id uuid.UUID) ID { return ID("chat-msg-" + id.String()) }

// ChatPanelData is what the assistant panel renders.
type ChatPanelData struct {
	Messages []store.ChatMessage
	// Mode is "llm" or "offline".
	Mode string
}

// ChatTurnData is a send's answer: the person's message and the pending reply.
type ChatTurnData struct {
	Message store.ChatMessage
	Reply   store.ChatMessage
}

// chatModeLabel says which assistant answers.
func chatModeLabel(mode string) string {
	if mode == "llm" {
		return "AI model"
	}
	return "Built-in (offline)"
}

// chatOpsShown are the changes a reply made that its text does not already say
// (the offline assistant's replies are the changes' summaries; a model may
// paraphrase). A delete waiting for confirmation is the reply's question itself.
func chatOpsShown(m store.ChatMessage) []store.ChatOperation {
	var out []store.ChatOperation
	for _, op := range m.Operations {
		if op.Status == store.OpDone && !strings.Contains(m.Content, op.Summary) {
			out = append(out, op)
		}
	}
	return out
}

// chatOpClass styles an operation by what it did.
func chatOpClass(op store.ChatOperation) string {
	if op.Status == store.OpAwaitingConfirmation {
		return "chat-op chat-op-pending"
	}
	return "chat-op"
}

// chatDeleteAsked returns the delete a reply asks the person to confirm.
func chatDeleteAsked(m store.ChatMessage) (store.ChatOperation, bool) {
	for _, op := range m.Operations {
		if op.Status == store.OpAwaitingConfirmation && op.Action == "delete_lead" && op.Lead != nil {
			return op, true
		}
	}
	return store.ChatOperation{}, false
}
