package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"sync"
	"time"
)

// user is a verified customer account the virtual users share.
type user struct {
	email string
	token string
}

// fixture is what a run books against.
type fixture struct {
	shows []string
	seats map[string][]string // show → seat ids
	users []user
}

// rowLabel names row i: A…Z, AA…ZZ.
func rowLabel(i int) string {
	if i < 26 {
		return string(rune('A' + i))
	}
	return string(rune('A'+i/26-1)) + string(rune('A'+i%26))
}

// layout returns the sections of a venue of about n seats (rows of at
// most 50) and its seat ids.
func layout(n int) ([]map[string]any, []string) {
	perRow := min(50, n)
	rows := (n + perRow - 1) / perRow
	var names, seats []string
	for r := range rows {
		names = append(names, rowLabel(r))
		for s := 1; s <= perRow; s++ {
			seats = append(seats, fmt.Sprintf("%s%d", rowLabel(r), s))
		}
	}
	return []map[string]any{{"category": "standard", "rows": names, "seats_per_row": perRow}}, seats
}

// setUp creates, through the admin API, a movie, venues and shows of the
// given size, and users accounts marked verified and logged in.
func setUp(ctx context.Context, c *client, adminToken string, shows, seats, users int, progress func(string)) (*fixture, error) {
	run := randomHex(4)
	f := &fixture{seats: map[string][]string{}}
	var movie struct {
		ID string `json:"id"`
	}
	if err := c.call(ctx, adminToken, "POST", "/admin/movies", map[string]any{"title": "Bench " + run, "genres": []string{"thriller"},
		"language": "en", "duration_minutes": 120}, 201, &movie); err != nil {
		return nil, err
	}
	sections, seatIDs := layout(seats)
	cities := []string{"Pune", "Mumbai", "Delhi", "Chennai"}
	var venues []string
	for i := range min(shows, len(cities)) {
		var v struct {
			ID string `json:"id"`
		}
		if err := c.call(ctx, adminToken, "POST", "/admin/venues", map[string]any{"name": fmt.Sprintf("Bench %s hall %d", run, i+1),
			"city": cities[i], "sections": sections}, 201, &v); err != nil {
			return nil, err
		}
		venues = append(venues, v.ID)
	}
	start := time.Now().UTC().Truncate(time.Hour).Add(7 * 24 * time.Hour)
	for i := range shows {
		var s struct {
			ID string `json:"id"`
		}
		body := map[string]any{"movie_id": movie.ID, "venue_id": venues[i%len(venues)],
			"starts_at": start.Add(time.Duration(i) * 3 * time.Hour).Format(time.RFC3339),
			"prices":    map[string]int64{"standard": 25000}, "currency": "INR"}
		if err := c.call(ctx, adminToken, "POST", "/admin/shows", body, 201, &s); err != nil {
			return nil, err
		}
		f.shows = append(f.shows, s.ID)
		f.seats[s.ID] = seatIDs
	}
	progress(fmt.Sprintf("%d show(s) of %d seats", shows, len(seatIDs)))

	f.users = make([]user, users)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		done     int
	)
	sem := make(chan struct{}, 8)
	for i := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			u, err := newUser(ctx, c, adminToken, fmt.Sprintf("bench-%s-%d@bench.seatline.local", run, i))
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			f.users[i] = u
			done++
			if done%25 == 0 || done == users {
				progress(fmt.Sprintf("users %d/%d", done, users))
			}
		}()
	}
	wg.Wait()
	return f, firstErr
}

func newUser(ctx context.Context, c *client, adminToken, email string) (user, error) {
	password := "bench-" + randomHex(8)
	if err := c.call(ctx, "", "POST", "/auth/register", map[string]string{"email": email, "password": password, "name": "Bench User"}, 201, nil); err != nil {
		return user{}, err
	}
	var page struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	if err := c.call(ctx, adminToken, "GET", "/admin/users?q="+url.QueryEscape(email), nil, 200, &page); err != nil {
		return user{}, err
	}
	if len(page.Items) != 1 {
		return user{}, fmt.Errorf("registered %s but found %d accounts", email, len(page.Items))
	}
	if err := c.call(ctx, adminToken, "PATCH", "/admin/users/"+page.Items[0].ID, map[string]bool{"email_verified": true}, 200, nil); err != nil {
		return user{}, err
	}
	token, err := login(ctx, c, email, password)
	return user{email: email, token: token}, err
}

func login(ctx context.Context, c *client, email, password string) (string, error) {
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err := c.call(ctx, "", "POST", "/auth/login", map[string]string{"email": email, "password": password}, 200, &tok)
	return tok.AccessToken, err
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
