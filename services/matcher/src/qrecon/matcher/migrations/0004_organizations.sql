-- Organisations (issue 15): every matcher table is keyed by (organization_id, id), so that
-- matching, state, review and what reviews teach never cross organisations.
--
-- Existing rows belong to the sentinel organisation '' ("the default organisation, not
-- named yet"): SQL cannot read settings. At startup the service adopts them: when
-- MATCHER_DEFAULT_ORGANIZATION is set, every '' row is renamed to it in one transaction
-- (qrecon.matcher.adapters.postgres_orgs.adopt_default_organization); otherwise they stay
-- under '' (kept, unreachable) and the service logs a warning. The column has no default
-- afterwards: every writer names the organisation.
ALTER TABLE matcher_allocations DROP CONSTRAINT matcher_allocations_transaction_id_fkey;
ALTER TABLE matcher_allocations DROP CONSTRAINT matcher_allocations_invoice_id_fkey;
ALTER TABLE matcher_decisions DROP CONSTRAINT matcher_decisions_transaction_id_fkey;

ALTER TABLE matcher_invoices ADD COLUMN organization_id text NOT NULL DEFAULT '';
ALTER TABLE matcher_transactions ADD COLUMN organization_id text NOT NULL DEFAULT '';
ALTER TABLE matcher_allocations ADD COLUMN organization_id text NOT NULL DEFAULT '';
ALTER TABLE matcher_results ADD COLUMN organization_id text NOT NULL DEFAULT '';
ALTER TABLE matcher_decisions ADD COLUMN organization_id text NOT NULL DEFAULT '';
ALTER TABLE matcher_aliases ADD COLUMN organization_id text NOT NULL DEFAULT '';
ALTER TABLE matcher_rejections ADD COLUMN organization_id text NOT NULL DEFAULT '';

ALTER TABLE matcher_invoices ALTER COLUMN organization_id DROP DEFAULT;
ALTER TABLE matcher_transactions ALTER COLUMN organization_id DROP DEFAULT;
ALTER TABLE matcher_allocations ALTER COLUMN organization_id DROP DEFAULT;
ALTER TABLE matcher_results ALTER COLUMN organization_id DROP DEFAULT;
ALTER TABLE matcher_decisions ALTER COLUMN organization_id DROP DEFAULT;
ALTER TABLE matcher_aliases ALTER COLUMN organization_id DROP DEFAULT;
ALTER TABLE matcher_rejections ALTER COLUMN organization_id DROP DEFAULT;

ALTER TABLE matcher_invoices DROP CONSTRAINT matcher_invoices_pkey,
    ADD PRIMARY KEY (organization_id, invoice_id);
ALTER TABLE matcher_transactions DROP CONSTRAINT matcher_transactions_pkey,
    ADD PRIMARY KEY (organization_id, transaction_id);
ALTER TABLE matcher_results DROP CONSTRAINT matcher_results_pkey,
    ADD PRIMARY KEY (organization_id, transaction_id, seq);
ALTER TABLE matcher_rejections DROP CONSTRAINT matcher_rejections_transaction_id_invoice_id_key,
    ADD UNIQUE (organization_id, transaction_id, invoice_id);
ALTER TABLE matcher_aliases
    DROP CONSTRAINT matcher_aliases_observed_counterparty_observed_iban_invoice_key,
    ADD CONSTRAINT matcher_aliases_learned_key UNIQUE (
        organization_id, observed_counterparty, observed_iban, invoice_counterparty_name);
-- Deferrable: the adoption of '' renames parents and children in one transaction.
ALTER TABLE matcher_allocations DROP CONSTRAINT matcher_allocations_pkey,
    ADD PRIMARY KEY (organization_id, transaction_id, invoice_id),
    ADD CONSTRAINT matcher_allocations_transaction_fkey FOREIGN KEY (organization_id, transaction_id)
        REFERENCES matcher_transactions (organization_id, transaction_id) DEFERRABLE,
    ADD CONSTRAINT matcher_allocations_invoice_fkey FOREIGN KEY (organization_id, invoice_id)
        REFERENCES matcher_invoices (organization_id, invoice_id) DEFERRABLE;
ALTER TABLE matcher_decisions
    ADD CONSTRAINT matcher_decisions_transaction_fkey FOREIGN KEY (organization_id, transaction_id)
        REFERENCES matcher_transactions (organization_id, transaction_id) DEFERRABLE;

DROP INDEX matcher_transactions_review_idx;
CREATE INDEX matcher_transactions_review_idx
    ON matcher_transactions (organization_id, result_status, tx_date DESC, transaction_id DESC)
    WHERE result_status IN ('suggested', 'unmatched');
DROP INDEX matcher_transactions_tx_date_idx;
CREATE INDEX matcher_transactions_tx_date_idx
    ON matcher_transactions (organization_id, tx_date DESC);
DROP INDEX matcher_allocations_invoice_idx;
CREATE INDEX matcher_allocations_invoice_idx
    ON matcher_allocations (organization_id, invoice_id);
DROP INDEX matcher_decisions_tx_idx;
CREATE INDEX matcher_decisions_tx_idx
    ON matcher_decisions (organization_id, transaction_id, id DESC);

-- The residual trigger finds the invoice within the allocation's organisation; renaming
-- the organisation of an allocation (the adoption) moves nothing.
CREATE OR REPLACE FUNCTION matcher_allocations_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.invoice_id = NEW.invoice_id
            AND OLD.amount_cents = NEW.amount_cents THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE matcher_invoices SET allocated_cents = allocated_cents - OLD.amount_cents
        WHERE organization_id = OLD.organization_id AND invoice_id = OLD.invoice_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE matcher_invoices SET allocated_cents = allocated_cents + NEW.amount_cents
        WHERE organization_id = NEW.organization_id AND invoice_id = NEW.invoice_id;
    END IF;
    RETURN NULL;
END $$;
