package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"
)

// seed creates a small cinema for a demo through the admin API: movies,
// two venues, shows each day from tomorrow, and two verified customers
// whose passwords it prints.
func (c *cli) seed(ctx context.Context, showsPerVenue int) error {
	type ref struct {
		ID string `json:"id"`
	}
	movies := []map[string]any{
		{"title": "The Last Projectionist", "genres": []string{"drama"}, "language": "en", "duration_minutes": 118,
			"description": "A small-town cinema's final week."},
		{"title": "Monsoon Heist", "genres": []string{"thriller", "action"}, "language": "hi", "duration_minutes": 142},
		{"title": "Amélie à Pune", "genres": []string{"romance", "comedy"}, "language": "fr", "duration_minutes": 104},
		{"title": "Orbit of Glass", "genres": []string{"sci-fi"}, "language": "en", "duration_minutes": 131},
	}
	venues := []map[string]any{
		{"name": "Seatline Phoenix", "city": "Pune", "address": "Viman Nagar", "sections": []map[string]any{
			{"category": "premium", "rows": []string{"A", "B"}, "seats_per_row": 12},
			{"category": "standard", "rows": []string{"C", "D", "E", "F", "G", "H"}, "seats_per_row": 16}}},
		{"name": "Seatline Marine Drive", "city": "Mumbai", "address": "Netaji Subhash Chandra Bose Road", "sections": []map[string]any{
			{"category": "recliner", "rows": []string{"A"}, "seats_per_row": 8},
			{"category": "standard", "rows": []string{"B", "C", "D", "E", "F"}, "seats_per_row": 14}}},
	}
	prices := []map[string]int64{{"premium": 45000, "standard": 28000}, {"recliner": 90000, "standard": 32000}}
	var movieIDs []string
	for _, m := range movies {
		var r ref
		if err := c.call(ctx, "POST", "/admin/movies", m, &r); err != nil {
			return err
		}
		movieIDs = append(movieIDs, r.ID)
	}
	fmt.Fprintf(c.out, "%d movies\n", len(movieIDs))
	day := time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	shows := 0
	for v, venue := range venues {
		var r ref
		if err := c.call(ctx, "POST", "/admin/venues", venue, &r); err != nil {
			return err
		}
		for i := range showsPerVenue {
			starts := day.Add(time.Duration(i/3)*24*time.Hour + time.Duration(13+3*(i%3))*time.Hour + 30*time.Minute)
			show := map[string]any{"movie_id": movieIDs[(v+i)%len(movieIDs)], "venue_id": r.ID,
				"starts_at": starts.Format(time.RFC3339), "prices": prices[v], "currency": "INR"}
			if err := c.call(ctx, "POST", "/admin/shows", show, nil); err != nil {
				return err
			}
			shows++
		}
	}
	fmt.Fprintf(c.out, "%d venues, %d shows\n", len(venues), shows)
	for _, name := range []string{"Asha Rao", "Ben Okafor"} {
		var b [6]byte
		_, _ = rand.Read(b[:])
		suffix := hex.EncodeToString(b[:3])
		email := fmt.Sprintf("demo-%s@seatline.local", suffix)
		password := "demo-" + hex.EncodeToString(b[:])
		if err := c.call(ctx, "POST", "/auth/register", map[string]string{"email": email, "password": password, "name": name}, nil); err != nil {
			return err
		}
		var page struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
		}
		if err := c.call(ctx, "GET", "/admin/users?q="+email, nil, &page); err != nil {
			return err
		}
		if len(page.Items) != 1 {
			return fmt.Errorf("registered %s but cannot find the account", email)
		}
		if err := c.call(ctx, "PATCH", "/admin/users/"+page.Items[0].ID, map[string]bool{"email_verified": true}, nil); err != nil {
			return err
		}
		fmt.Fprintf(c.out, "customer %s: %s / %s\n", name, email, password)
	}
	return nil
}
