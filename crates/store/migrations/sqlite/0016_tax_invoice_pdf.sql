-- The PDF of an issued tax invoice, as the tax authority's system produced it: an operator
-- attaches it when issuing or later (attaching again replaces it), the customer downloads it.
-- `sha256` is the content's hash (hex), which verify recomputes.
CREATE TABLE tax_invoice_pdf (
    account_id  TEXT   NOT NULL,
    request_no  BIGINT NOT NULL,
    content     BLOB  NOT NULL,
    sha256      TEXT   NOT NULL,
    attached_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, request_no)
);
