package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// TestWriteOutlivesItsRequest: a request that gives up while its write runs
// does not interrupt the write's statements (that would roll back the whole
// shared transaction): the write commits whole, says so, and the writes
// grouped with it commit too.
func TestWriteOutlivesItsRequest(t *testing.T) {
	s := openForTest(t)
	ten := tenantForTest(t, s)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 9)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := ten.AddMessage(ctx, MessageInput{LeadID: fmt.Sprintf("mate-%d", i), CreateLead: true,
				Role: RoleUser, Content: "oi", Status: MsgDelivered})
			errs <- err
		}()
	}
	reqCtx, cancel := context.WithCancel(ctx)
	wg.Add(1)
	go func() {
		defer wg.Done()
		errs <- s.write(reqCtx, ten.id, func(w *wtx) error {
			if _, err := insertLeadForTest(reqCtx, w, "before"); err != nil {
				return err
			}
			cancel() // the client hangs up between two statements
			_, err := insertLeadForTest(reqCtx, w, "after")
			return err
		})
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("write: %v", err)
		}
	}
	var leads int
	if err := s.queryRow(context.Background(), `SELECT count(*) FROM leads WHERE tenant_id = ?`, ten.id).Scan(&leads); err != nil {
		t.Fatal(err)
	}
	if leads != 10 {
		t.Errorf("%d leads stored, want 10 (8 group-mates, both of the cancelled request's)", leads)
	}
}

func insertLeadForTest(ctx context.Context, w *wtx, id string) (Lead, error) {
	return insertLead(ctx, w, LeadInput{ID: &id})
}
