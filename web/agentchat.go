package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/parley-dev/parley/store"
)

// The agent-conversation (EvaGPT) dialect of API.md §4: its own shapes, no
// success envelope, problem JSON on errors.

type botJSON struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Description  string `json:"description"`
	Presentation string `json:"presentation"`
}

func (s *Server) listBots(c echo.Context) error {
	list, total, err := tenantOf(c).ListAssistants(c.Request().Context(), store.Page{Limit: maxBareList})
	if err != nil {
		return err
	}
	setListBound(c, total, len(list))
	out := make([]botJSON, len(list))
	for i, a := range list {
		out[i] = botJSON{a.ID, a.Name, a.Description, a.Presentation}
	}
	return c.JSON(http.StatusOK, out)
}

// maxBareList bounds the EvaGPT lists that have no paging of their own
// (bots, a conversation's messages): a response must not grow with the data.
const maxBareList = 1000

// setListBound tells a client of a bounded list how much there is in all,
// and that it got only part of it.
func setListBound(c echo.Context, total, sent int) {
	h := c.Response().Header()
	h.Set("X-Total-Count", strconv.Itoa(total))
	if sent < total {
		h.Set("X-Truncated", "true")
	}
}

func (s *Server) botPresentation(c echo.Context) error {
	id := c.Param("botId")
	a, err := tenantOf(c).Assistant(c.Request().Context(), id)
	if err != nil {
		return orNotFound(err, "bot", id)
	}
	return c.JSON(http.StatusOK, map[string]string{"id": a.ID, "presentation": a.Presentation})
}

// agentDefaultLimit is GET /conversation's default page size (seeds/001).
const agentDefaultLimit = 25

type agentConversationJSON struct {
	ID          string     `json:"id"`
	BotID       string     `json:"botId"`
	BotName     string     `json:"botname"`
	Description string     `json:"description"`
	Channel     string     `json:"channel"`
	Survey      int        `json:"survey"`
	Meta        store.Meta `json:"meta"`
	CreatedAt   store.Time `json:"createdAt"`
	UpdatedAt   store.Time `json:"updatedAt"`
}

type conversationPage struct {
	Total         int                     `json:"total"`
	CurrentPage   int                     `json:"currentPage"`
	TotalPages    int                     `json:"totalPages"`
	Cursor        *string                 `json:"cursor"`
	Conversations []agentConversationJSON `json:"conversations"`
}

// listAgentConversations is GET /conversation. currentPage is the index of the
// page asked for (0 = first); the answer's currentPage is the number of the
// page returned (1 = first), which is also the index of the next page, so a
// client may send it back as is. cursor pages by keyset instead.
func (s *Server) listAgentConversations(c echo.Context) error {
	var fields []FieldError
	intParam := func(name string, def, lo, hi int) int {
		v := c.QueryParam(name)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			fields = append(fields, FieldError{name, "must be an integer from " + strconv.Itoa(lo) + " to " + strconv.Itoa(hi)})
			return def
		}
		return n
	}
	limit := intParam("limit", agentDefaultLimit, 1, maxLimit)
	page := intParam("currentPage", 0, 0, 1_000_000)
	dateParam := func(name string) *time.Time {
		v := c.QueryParam(name)
		if v == "" {
			return nil
		}
		d, err := time.Parse(time.DateOnly, v)
		if err != nil {
			fields = append(fields, FieldError{name, "must be a date YYYY-MM-DD"})
			return nil
		}
		return &d
	}
	from, to := dateParam("dateInit"), dateParam("dateEnd")
	if from != nil && to != nil && to.Before(*from) {
		fields = append(fields, FieldError{"dateEnd", "must not be before dateInit"})
	}
	if len(fields) > 0 {
		return invalid(fields...)
	}
	ten := tenantOf(c)
	ctx := c.Request().Context()
	// One row more than the page tells whether another page follows: page
	// arithmetic cannot, once conversations before a cursor were deleted or
	// the client changed limit along the way.
	q := store.ConversationQuery{Limit: limit + 1, Offset: page * limit, Search: c.QueryParam("search"), Meta: c.QueryParam("meta")}
	if from != nil {
		t := store.TimeOf(*from)
		q.From = &t
	}
	if to != nil {
		t := store.TimeOf(to.AddDate(0, 0, 1)) // inclusive: up to the end of that day
		q.Until = &t
	}
	info, err := ten.Info(ctx)
	if err != nil {
		return err
	}
	key := cursorKey(info.PostbackSecret)
	filters := filterDigest(c.QueryParam("dateInit"), c.QueryParam("dateEnd"), q.Search, q.Meta)
	if raw := c.QueryParam("cursor"); raw != "" {
		cur, err := decodeCursor(key, raw)
		if err != nil || cur.Filters != filters {
			return invalid(FieldError{"cursor", "is not a cursor of this listing (send the filters it came with)"})
		}
		at := store.Time(cur.CreatedAt)
		q.AfterCreatedAt, q.AfterID, page = &at, cur.ID, cur.Page
	}
	list, total, err := ten.SearchConversations(ctx, q)
	if err != nil {
		return err
	}
	more := len(list) > limit
	if more {
		list = list[:limit]
	}
	out := conversationPage{Total: total, CurrentPage: page + 1, TotalPages: (total + limit - 1) / limit,
		Conversations: make([]agentConversationJSON, len(list))}
	for i, a := range list {
		out.Conversations[i] = agentConversationJSON{a.ID, a.BotID, a.BotName, a.Description, a.Channel, a.Survey, a.Meta, a.CreatedAt, a.UpdatedAt}
	}
	if more {
		last := list[len(list)-1]
		next := encodeCursor(key, pageCursor{CreatedAt: int64(last.CreatedAt), ID: last.ID, Page: page + 1, Filters: filters})
		out.Cursor = &next
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) agentConversation(c echo.Context) error {
	id := c.Param("id")
	a, err := tenantOf(c).AgentConversation(c.Request().Context(), id)
	if err != nil {
		return orNotFound(err, "conversation", id)
	}
	return c.JSON(http.StatusOK, map[string]any{"id": a.ID, "botname": a.BotName, "description": a.Description,
		"channel": a.Channel, "survey": a.Survey, "meta": a.Meta})
}

type agentMessageJSON struct {
	ID          string     `json:"id"`
	Role        string     `json:"role"`
	Text        string     `json:"text"`
	MessageType string     `json:"messageType"`
	URL         *string    `json:"url"`
	Feedback    *string    `json:"feedback"`
	Status      string     `json:"status"`
	CreatedAt   store.Time `json:"createdAt"`
}

func (s *Server) agentMessages(c echo.Context) error {
	id := c.Param("id")
	ten := tenantOf(c)
	ctx := c.Request().Context()
	if _, err := ten.Conversation(ctx, id); err != nil {
		return orNotFound(err, "conversation", id)
	}
	msgs, total, err := ten.ConversationTail(ctx, id, maxBareList)
	if err != nil {
		return err
	}
	setListBound(c, total, len(msgs))
	out := make([]agentMessageJSON, len(msgs))
	for i, m := range msgs {
		out[i] = agentMessageJSON{m.ID, m.Role, m.Content, m.MessageType, m.URL, m.Feedback, m.Status, m.Timestamp}
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) createAgentConversation(c echo.Context) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	var b struct {
		Meta store.Meta `json:"meta"`
	}
	if err := decodeJSON(body, &b, true); err != nil {
		return err
	}
	if msg := metaProblem(b.Meta); msg != "" {
		return invalid(FieldError{"meta", msg})
	}
	leadID, _ := b.Meta["lead_id"].(string)
	if leadID != "" && !leadIDPattern.MatchString(leadID) {
		return invalid(FieldError{"meta.lead_id", "must be 1-128 characters of A-Z a-z 0-9 . _ : @ + -"})
	}
	botID := c.Param("botId")
	conv, err := tenantOf(c).CreateConversation(c.Request().Context(), botID, leadID, b.Meta)
	if err != nil {
		return orNotFound(err, "bot", botID)
	}
	return c.JSON(http.StatusCreated, map[string]string{"id": conv.ID})
}

func (s *Server) updateAgentConversation(c echo.Context) error {
	var meta store.Meta
	if err := bindJSON(c, &meta); err != nil {
		return err
	}
	// {"meta":{…}}, the shape create takes, merges those pairs: clients
	// send it, and a nested "meta" key is never what they meant.
	if inner, ok := meta["meta"].(map[string]any); ok && len(meta) == 1 {
		meta = inner
	}
	if msg := metaProblem(meta); msg != "" {
		return invalid(FieldError{"meta", msg})
	}
	id := c.Param("id")
	if _, err := tenantOf(c).UpdateConversation(c.Request().Context(), id, store.ConversationPatch{Meta: meta}); err != nil {
		return orNotFound(err, "conversation", id)
	}
	return c.JSON(http.StatusOK, map[string]string{"message": "conversation updated"})
}

// chatText reads the {"text"} body of the chat routes. Clients written for
// other chat APIs send the same thing as message, content, question or
// prompt; the first non-empty one wins, text first. Only the field that won
// is checked, so a stray wrong-typed alias beside a good text is no error.
func chatText(c echo.Context) (string, error) {
	var b map[string]any
	if err := bindJSON(c, &b); err != nil {
		return "", err
	}
	for _, name := range chatTextFields {
		v, present := b[name]
		if !present || v == nil {
			continue
		}
		text, ok := v.(string)
		switch {
		case !ok:
			return "", invalid(FieldError{name, "must be a string"})
		case strings.TrimSpace(text) == "":
			continue
		case len(text) > maxContentBytes:
			return "", invalid(FieldError{name, "must be at most 65536 bytes"})
		}
		return text, nil
	}
	return "", invalid(FieldError{"text", "is required (or one of message, content, question, prompt)"})
}

// chatTextFields are the body members chatText reads, in order of preference.
var chatTextFields = []string{"text", "message", "content", "question", "prompt"}

type sentMessageJSON struct {
	ID        string     `json:"id"`
	Text      string     `json:"text"`
	Role      string     `json:"role"`
	CreatedAt store.Time `json:"createdAt"`
}

// completeChat is POST /conversation/complete/{id}: the whole answer at once.
// With the AI paused on the conversation the text is stored and the answer
// is {"id":null,"sendMensages":[]}.
func (s *Server) completeChat(c echo.Context) error {
	text, err := chatText(c)
	if err != nil {
		return err
	}
	id := c.Param("id")
	res, err := s.pipeline.Chat(c.Request().Context(), tenantOf(c), id, text, nil)
	if err != nil {
		return orNotFound(s.turnError(c, err), "conversation", id)
	}
	if !res.Answered {
		return c.JSON(http.StatusOK, map[string]any{"id": nil, "sendMensages": []sentMessageJSON{}})
	}
	a := res.Answer
	return c.JSON(http.StatusOK, map[string]any{"id": a.ID,
		"sendMensages": []sentMessageJSON{{ID: a.ID, Text: a.Content, Role: a.Role, CreatedAt: a.Timestamp}}})
}

type feedbackBody struct {
	Feedback *string `json:"feedback"`
	Comment  string  `json:"comment"`
}

func (s *Server) messageFeedback(c echo.Context) error {
	var b feedbackBody
	fields, err := bindFields(c, &b)
	if err != nil {
		return err
	}
	if b.Feedback != nil && *b.Feedback != "like" && *b.Feedback != "dislike" {
		fields.add("feedback", "must be like, dislike or null")
	}
	if len(b.Comment) > maxContentBytes {
		fields.add("comment", "must be at most 65536 bytes")
	}
	if len(fields) > 0 {
		return invalid(fields...)
	}
	id := c.Param("id")
	_, err = tenantOf(c).SetFeedback(c.Request().Context(), id, b.Feedback, b.Comment)
	if errors.Is(err, store.ErrNotAssistantMessage) {
		return invalid(FieldError{"idmessage", "only assistant messages take feedback"})
	}
	if err != nil {
		return orNotFound(err, "message", id)
	}
	return c.JSON(http.StatusOK, map[string]string{"message": "feedback saved"})
}

func (s *Server) conversationSurvey(c echo.Context) error {
	var b struct {
		SurveyNumber *int   `json:"surveyNumber"`
		Comment      string `json:"comment"`
	}
	fields, err := bindFields(c, &b)
	if err != nil {
		return err
	}
	if b.SurveyNumber == nil || *b.SurveyNumber < 1 || *b.SurveyNumber > 5 {
		fields.add("surveyNumber", "must be an integer from 1 to 5")
	}
	if len(b.Comment) > maxContentBytes {
		fields.add("comment", "must be at most 65536 bytes")
	}
	if len(fields) > 0 {
		return invalid(fields...)
	}
	id := c.Param("id")
	if _, err := tenantOf(c).SetSurvey(c.Request().Context(), id, *b.SurveyNumber, b.Comment); err != nil {
		return orNotFound(err, "conversation", id)
	}
	return c.JSON(http.StatusOK, map[string]string{"message": "survey saved"})
}
