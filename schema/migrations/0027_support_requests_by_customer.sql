-- A customer's requests in an org, newest first: the support desk's
-- customer history (package support's getCustomerHistory), which an
-- agent's console reads for every chat it shows. Without it the read
-- scanned the org's requests.
CREATE INDEX support_requests_customer ON support_requests (org_id, customer_id, enqueued_at DESC, id DESC);
