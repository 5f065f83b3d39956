package web_test

import (
	"net/http"
	"net/url"
	"reflect"
	"testing"
	"time"
)

// TestAgentFeedback: POST /conversation/message/feedback/{id} takes like,
// dislike or null on assistant messages only; the feedback shows on both
// dialects' message lists and emits conversation_update.
func TestAgentFeedback(t *testing.T) {
	e := newEnv(t)
	conv := agentCreate(t, e, agentBot(t, e), obj{"meta": obj{"lead_id": "fb-lead"}})
	answer := agentComplete(t, e, conv, "rate me")
	user := agentMessages(t, e, conv)[0].ID
	sse := e.openStream("/backend/conversations/stream", nil)

	for _, fb := range []any{"like", "dislike", nil, "like"} {
		r := e.do(http.MethodPost, "/conversation/message/feedback/"+answer, obj{"feedback": fb, "comment": "ok"})
		if got := agentJSON[obj](t, r, http.StatusOK); !reflect.DeepEqual(got, obj{"message": "feedback saved"}) {
			t.Fatalf("feedback %v answered %v", fb, got)
		}
		ev := sse.Next(5*time.Second, agentOfConv(conv, "conversation_update"))
		if d := agentEvent(t, ev); d["lead_id"] != "fb-lead" || ev.ID == "" {
			t.Errorf("conversation_update after feedback = %s", ev.Body)
		}
		var want *string
		if s, ok := fb.(string); ok {
			want = &s
		}
		msgs := agentMessages(t, e, conv)
		if got := msgs[1].Feedback; !reflect.DeepEqual(got, want) || msgs[0].Feedback != nil {
			t.Errorf("after %v: feedback on /conversation/message = %v / %v", fb, msgs[1].Feedback, msgs[0].Feedback)
		}
		lead := wantData[[]obj](t, e.do(http.MethodGet, "/backend/messages/fb-lead", nil), http.StatusOK).Data
		var seen any = "absent"
		for _, m := range lead {
			if m["id"] == answer {
				seen = m["feedback"]
			}
		}
		if !reflect.DeepEqual(seen, fb) {
			t.Errorf("after %v: feedback on /backend/messages/{lead} = %v", fb, seen)
		}
	}

	cases := []struct {
		name, id string
		body     any
		status   int
		field    string
	}{
		{"user message", user, obj{"feedback": "like"}, 400, "idmessage"},
		{"bad value", answer, obj{"feedback": "love"}, 400, "feedback"},
		{"wrong type", answer, obj{"feedback": 1}, 400, "feedback"},
		{"unknown message", "no-such-message", obj{"feedback": "like"}, 404, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(http.MethodPost, "/conversation/message/feedback/"+c.id, c.body)
			if c.status == 404 {
				wantProblem(t, r, http.StatusNotFound, "NOT_FOUND")
				return
			}
			wantFields(t, r, c.field)
		})
	}
	if fb := agentMessages(t, e, conv)[1].Feedback; fb == nil || *fb != "like" {
		t.Errorf("refused requests changed the feedback to %v", fb)
	}
}

// TestAgentSurvey: POST /conversation/survey/{id} takes an integer 1–5; the
// rating shows in GET /conversation/{id} and in the list.
func TestAgentSurvey(t *testing.T) {
	e := newEnv(t)
	conv := agentCreate(t, e, agentBot(t, e), nil)
	for n := 1; n <= 5; n++ {
		r := e.do(http.MethodPost, "/conversation/survey/"+conv, obj{"surveyNumber": n, "comment": "fine"})
		if got := agentJSON[obj](t, r, http.StatusOK); !reflect.DeepEqual(got, obj{"message": "survey saved"}) {
			t.Fatalf("survey %d answered %v", n, got)
		}
		if got := agentJSON[obj](t, e.do(http.MethodGet, "/conversation/"+conv, nil), http.StatusOK)["survey"]; got != float64(n) {
			t.Errorf("survey after rating %d = %v", n, got)
		}
		list := agentList(t, e, e.key, url.Values{"search": {conv}})
		if len(list.Conversations) != 1 || list.Conversations[0].Survey != n {
			t.Errorf("list after rating %d = %+v", n, list.Conversations)
		}
	}
	for _, bad := range []string{`{"surveyNumber":0}`, `{"surveyNumber":6}`, `{"surveyNumber":4.5}`,
		`{"surveyNumber":"x"}`, `{"surveyNumber":-1}`, `{"surveyNumber":null}`, `{}`} {
		t.Run(bad, func(t *testing.T) {
			wantFields(t, e.do(http.MethodPost, "/conversation/survey/"+conv, bad), "surveyNumber")
		})
	}
	if got := agentJSON[obj](t, e.do(http.MethodGet, "/conversation/"+conv, nil), http.StatusOK)["survey"]; got != 5.0 {
		t.Errorf("refused ratings changed the survey to %v", got)
	}
	wantProblem(t, e.do(http.MethodPost, "/conversation/survey/no-such-id", obj{"surveyNumber": 3}), http.StatusNotFound, "NOT_FOUND")
}
