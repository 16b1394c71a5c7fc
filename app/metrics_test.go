package app_test

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/app"
	"github.com/seatline/seatline/internal/apptest"
	"github.com/seatline/seatline/payments"
)

// scrape returns the value of each series of /metrics whose name and
// labels match pattern, summed.
func scrape(t *testing.T, url, token string, pattern string) float64 {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/metrics", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, body)
	}
	re := regexp.MustCompile(`(?m)^` + pattern + ` ([0-9.e+-]+)$`)
	var sum float64
	found := false
	for _, m := range re.FindAllStringSubmatch(string(body), -1) {
		v, _ := strconv.ParseFloat(m[1], 64)
		sum += v
		found = true
	}
	if !found {
		t.Fatalf("no series %s in /metrics", pattern)
	}
	return sum
}

// TestMetricsAndReadiness books and pays through the API and finds it in
// the Prometheus metrics: request latency by route, command latency,
// appends, consumer lag, gateway calls, emails, active holds. /metrics
// asks for the token when one is set; /readyz reports the dependencies.
func TestMetricsAndReadiness(t *testing.T) {
	t.Parallel()
	e := paymentEngine(t, func(c *app.Config) { c.MetricsToken = "scrape-secret" })
	admin := e.Admin(t)
	show := apptest.Show(t, admin, 1, 6)
	user, _ := e.NewUser(t)
	id := user.Must(201, "POST", "/bookings", map[string]any{"show_id": show, "seats": []string{"A1"}}).Body["id"].(string)
	user.Must(202, "POST", "/bookings/"+id+"/checkout", map[string]any{"payment_token": payments.TokenApprove})
	waitBooking(t, user, id, 15*time.Second, status("confirmed"))
	user.Must(201, "POST", "/bookings", map[string]any{"show_id": show, "seats": []string{"A2"}})

	if r, _ := http.Get(e.URL + "/metrics"); r.StatusCode != 401 {
		t.Fatalf("/metrics without the token: %d", r.StatusCode)
	}
	tok := "scrape-secret"
	checks := map[string]float64{
		`seatline_http_request_duration_seconds_count\{method="POST",route="/api/v1/bookings",status="201"\}`: 2,
		`seatline_command_duration_seconds_count\{command="HoldSeats",outcome="ok"\}`:                         2,
		`seatline_command_duration_seconds_count\{command="ConfirmPaid",outcome="ok"\}`:                       1,
		`seatline_holds_placed_total`: 2,
		`seatline_payment_gateway_calls_total\{kind="charge",outcome="succeeded"\}`: 1,
		`seatline_holds_active`: 1,
	}
	waitFor(t, 10*time.Second, "the metrics", func() bool {
		for p, want := range checks {
			if scrape(t, e.URL, tok, p) < want {
				return false
			}
		}
		return scrape(t, e.URL, tok, `seatline_emails_total\{outcome="sent",template="booking_confirmed"\}`) >= 1
	})
	if v := scrape(t, e.URL, tok, `seatline_appended_commits_total`); v < 8 {
		t.Errorf("appended commits %v", v)
	}
	if v := scrape(t, e.URL, tok, `seatline_consumer_lag_commits\{group="projection.bookings"\}`); v < 0 {
		t.Errorf("lag %v", v)
	}
	if v := scrape(t, e.URL, tok, `seatline_command_batch_size_count`); v < 1 {
		t.Errorf("batch size count %v", v)
	}
	scrape(t, e.URL, tok, `seatline_queue_pending_messages\{group="saga.payment"\}`)
	scrape(t, e.URL, tok, `seatline_dead_letters\{group="saga.payment"\}`)

	r := e.Client(t)
	r.Base = e.URL
	if b := r.Must(200, "GET", "/readyz", nil).Body; b["status"] != "ready" {
		t.Fatalf("readyz %v", b)
	}
	if b := r.Must(200, "GET", "/healthz", nil).Body; !strings.Contains(b["status"].(string), "ok") {
		t.Fatalf("healthz %v", b)
	}
}
