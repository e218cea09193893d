package chat

import (
	"math"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parley-chat/parley/functions"
)

// Meeting is a meeting message's scheduled call (seed 001), as stored and
// listed: StartsAt in milliseconds since the epoch.
type Meeting struct {
	Title           string  `json:"title"`
	StartsAt        float64 `json:"startsAt"`
	DurationMinutes int     `json:"durationMinutes"`
	JoinURL         string  `json:"joinUrl"`
}

// MeetingArgs is the call a meeting message schedules.
type MeetingArgs struct {
	Title           string  `json:"title"`
	StartsAt        float64 `json:"startsAt"` // milliseconds since the epoch
	DurationMinutes int     `json:"durationMinutes"`
	JoinURL         string  `json:"joinUrl"`
}

// Meeting limits.
const (
	maxMeetingTitle    = 200
	maxMeetingMinutes  = 24 * 60
	maxJoinURL         = 2048
	meetingPastGrace   = time.Hour // a call may be shared shortly after it began
	meetingFutureLimit = 366 * 24 * time.Hour
)

// MeetingPreview is the conversation preview of a meeting without a
// caption: "Meeting: <title>".
const MeetingPreview = "Meeting"

// checkMeeting validates a meeting message's call against now: a title,
// a start from an hour ago to a year ahead, 1 to 1440 minutes, and an
// absolute http(s) join URL.
func checkMeeting(a *MeetingArgs, now time.Time) (*Meeting, error) {
	if a == nil {
		return nil, functions.Invalid(`meeting is required when messageType is "meeting"`)
	}
	title := strings.TrimSpace(a.Title)
	switch n := utf8.RuneCountInString(title); {
	case n == 0:
		return nil, functions.Invalid("meeting.title must not be empty")
	case n > maxMeetingTitle:
		return nil, functions.Invalid("meeting.title must be at most %d characters, got %d", maxMeetingTitle, n)
	}
	if math.IsNaN(a.StartsAt) || math.IsInf(a.StartsAt, 0) || a.StartsAt != math.Trunc(a.StartsAt) {
		return nil, functions.Invalid("meeting.startsAt must be a whole number of milliseconds since the epoch")
	}
	start := time.UnixMilli(int64(a.StartsAt))
	if start.Before(now.Add(-meetingPastGrace)) || start.After(now.Add(meetingFutureLimit)) {
		return nil, functions.Invalid("meeting.startsAt must be between an hour ago and a year from now")
	}
	if a.DurationMinutes < 1 || a.DurationMinutes > maxMeetingMinutes {
		return nil, functions.Invalid("meeting.durationMinutes must be between 1 and %d, got %d", maxMeetingMinutes, a.DurationMinutes)
	}
	if len(a.JoinURL) > maxJoinURL {
		return nil, functions.Invalid("meeting.joinUrl must be at most %d bytes", maxJoinURL)
	}
	u, err := url.Parse(a.JoinURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return nil, functions.Invalid("meeting.joinUrl must be an absolute http or https URL without credentials")
	}
	return &Meeting{Title: title, StartsAt: a.StartsAt, DurationMinutes: a.DurationMinutes, JoinURL: u.String()}, nil
}
