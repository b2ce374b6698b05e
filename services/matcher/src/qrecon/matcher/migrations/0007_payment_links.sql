-- Qonto payment links (issue 16, item 9): the latest version of each link of each
-- organisation, from the v1/payment-links webhooks on qonto.events.v1. A paid link is
-- evidence for the engine (qrecon.matcher.core.payment_links): a credit of its amount,
-- settled soon after it was paid, pays the invoice it was created for.
--
-- `link_updated_at` is the link's version (the webhook's data.updated_at): an upsert keeps
-- the newest (an older or equal version changes nothing, so replays are harmless).
-- `paid_at` is when the link became paid (the first paid version's updated_at), NULL
-- unless its status is paid. `row_changed_at` (set on every write) is what the replicas'
-- caches read incrementally, like matcher_invoices.updated_at.
CREATE TABLE matcher_payment_links (
    organization_id  text NOT NULL,
    link_id          text NOT NULL,
    invoice_id       text,
    invoice_number   text,
    amount_cents     bigint NOT NULL CHECK (amount_cents > 0),
    currency         text NOT NULL,
    status           text NOT NULL,
    paid_at          timestamptz,
    link_updated_at  timestamptz NOT NULL,
    event_id         text NOT NULL,
    row_changed_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (organization_id, link_id),
    CHECK ((status = 'paid') = (paid_at IS NOT NULL))
);
CREATE INDEX matcher_payment_links_changed_idx ON matcher_payment_links (row_changed_at);
