-- Resource packs (see billing::pack): prepaid volume of one billable item, valid from one day
-- through another (both included), bought (`price` paid, an expense line of charge type
-- `resource_pack` under document `RP-<pack_no>`) or granted (price 0). `volume` and `remaining`
-- are quantities scaled by 10^6. Pack numbers count per account from 1.
CREATE TABLE resource_pack (
    account_id  TEXT   NOT NULL,
    pack_no     BIGINT NOT NULL,
    offer       TEXT   NOT NULL,
    item        TEXT   NOT NULL,
    volume      BIGINT NOT NULL,
    remaining   BIGINT NOT NULL,
    valid_from  TEXT   NOT NULL,
    valid_until TEXT   NOT NULL,
    origin      TEXT   NOT NULL,
    price       BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (account_id, pack_no),
    CHECK (remaining >= 0 AND remaining <= volume)
);

-- What a `resource_pack` expense line took from each pack: a pack's remaining volume is its
-- volume less its draws, and a line's quantity is the sum of its draws (`verify` checks both).
CREATE TABLE resource_pack_draw (
    account_id TEXT   NOT NULL,
    line_no    BIGINT NOT NULL,
    pack_no    BIGINT NOT NULL,
    quantity   BIGINT NOT NULL,
    PRIMARY KEY (account_id, line_no, pack_no)
);
