-- Parley chat domain. Ids are text. Times are timestamptz; the API reports
-- them as milliseconds since the epoch.

CREATE TABLE users (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    role       text NOT NULL CHECK (role IN ('customer', 'store', 'admin')),
    email      text,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE stores (
    id                       text PRIMARY KEY,
    name                     text NOT NULL,
    direct_messaging_enabled boolean NOT NULL DEFAULT true,
    created_at               timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE store_staff (
    store_id text NOT NULL REFERENCES stores (id),
    user_id  text NOT NULL REFERENCES users (id),
    PRIMARY KEY (store_id, user_id)
);

CREATE TABLE orders (
    id           text PRIMARY KEY,
    customer_id  text NOT NULL REFERENCES users (id),
    store_id     text NOT NULL REFERENCES stores (id),
    total_amount numeric(12, 2) NOT NULL,
    status       text NOT NULL CHECK (status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded')),
    order_date   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX orders_customer_store ON orders (customer_id, store_id);

CREATE TABLE conversations (
    id                   text PRIMARY KEY,
    conversation_type    text NOT NULL CHECK (conversation_type IN ('customer_to_store', 'customer_to_admin')),
    customer_id          text NOT NULL REFERENCES users (id),
    store_id             text REFERENCES stores (id),
    order_id             text REFERENCES orders (id),
    assigned_admin_id    text REFERENCES users (id),
    status               text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived', 'closed')),
    is_blocked           boolean NOT NULL DEFAULT false,
    last_message_at      timestamptz,
    last_message_preview text,
    created_at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (conversation_type = 'customer_to_admin' OR store_id IS NOT NULL)
);
-- createOrGetConversation returns the same conversation for the same subject.
CREATE UNIQUE INDEX conversations_subject
    ON conversations (customer_id, conversation_type, coalesce(store_id, ''), coalesce(order_id, ''));
CREATE INDEX conversations_store ON conversations (store_id);
CREATE INDEX conversations_type ON conversations (conversation_type);

CREATE TABLE conversation_participants (
    conversation_id text NOT NULL REFERENCES conversations (id),
    user_id         text NOT NULL REFERENCES users (id),
    role            text NOT NULL CHECK (role IN ('customer', 'store', 'admin')),
    joined_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_read_at    timestamptz,
    last_seen_at    timestamptz,
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX participants_user ON conversation_participants (user_id);

CREATE TABLE files (
    id           text PRIMARY KEY,
    owner_id     text NOT NULL REFERENCES users (id),
    content_type text NOT NULL,
    size_bytes   bigint NOT NULL,
    width        integer NOT NULL,
    height       integer NOT NULL,
    storage_key  text NOT NULL,
    thumb_key    text,
    message_id   text,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    attached_at  timestamptz
);

CREATE TABLE messages (
    id              text PRIMARY KEY,
    conversation_id text NOT NULL REFERENCES conversations (id),
    sender_id       text NOT NULL,
    sender_type     text NOT NULL CHECK (sender_type IN ('customer', 'store', 'admin', 'system')),
    message_type    text NOT NULL CHECK (message_type IN ('text', 'image', 'system', 'transfer')),
    content         text NOT NULL,
    image_file_id   text REFERENCES files (id),
    is_read         boolean NOT NULL DEFAULT false,
    read_at         timestamptz,
    is_deleted      boolean NOT NULL DEFAULT false,
    deleted_at      timestamptz,
    deleted_by      text,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX messages_conversation_time ON messages (conversation_id, created_at DESC, id DESC);
CREATE INDEX messages_unread ON messages (conversation_id) WHERE NOT is_read AND NOT is_deleted;

CREATE TABLE typing_state (
    conversation_id text NOT NULL REFERENCES conversations (id),
    user_id         text NOT NULL,
    user_type       text NOT NULL CHECK (user_type IN ('customer', 'store', 'admin')),
    user_name       text NOT NULL,
    is_typing       boolean NOT NULL,
    last_typing_at  timestamptz NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
);

-- One row: the global chat switches.
CREATE TABLE chat_settings (
    id                       boolean PRIMARY KEY DEFAULT true CHECK (id),
    direct_messaging_enabled boolean NOT NULL DEFAULT true,
    admin_support_enabled    boolean NOT NULL DEFAULT true,
    max_image_size_mb        integer NOT NULL DEFAULT 5 CHECK (max_image_size_mb > 0),
    allowed_image_types      text[] NOT NULL DEFAULT ARRAY['image/jpeg', 'image/png', 'image/gif', 'image/webp'],
    updated_at               timestamptz NOT NULL DEFAULT clock_timestamp()
);
INSERT INTO chat_settings (id) VALUES (true);

-- Idempotency of mutations: a resent (session_id, request_id) returns the
-- stored result instead of running again. Not published: no query reads it.
CREATE TABLE mutation_log (
    session_id text NOT NULL,
    request_id bigint NOT NULL,
    udf_path   text NOT NULL,
    result     jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (session_id, request_id)
);

-- Old values in updates and deletes: a row leaving a result set must
-- invalidate the queries that had it.
ALTER TABLE users REPLICA IDENTITY FULL;
ALTER TABLE stores REPLICA IDENTITY FULL;
ALTER TABLE store_staff REPLICA IDENTITY FULL;
ALTER TABLE orders REPLICA IDENTITY FULL;
ALTER TABLE conversations REPLICA IDENTITY FULL;
ALTER TABLE conversation_participants REPLICA IDENTITY FULL;
ALTER TABLE files REPLICA IDENTITY FULL;
ALTER TABLE messages REPLICA IDENTITY FULL;
ALTER TABLE typing_state REPLICA IDENTITY FULL;
ALTER TABLE chat_settings REPLICA IDENTITY FULL;

CREATE PUBLICATION parley FOR TABLE
    users, stores, store_staff, orders, conversations, conversation_participants,
    files, messages, typing_state, chat_settings;
