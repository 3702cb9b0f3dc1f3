package io.kindling.client;

/**
 * What a {@link Subscription} yields, in stream order: an event
 * ({@link KindlingEvent}) or a report of events the stream lost
 * ({@link LossNotice}).
 */
public sealed interface StreamItem permits KindlingEvent, LossNotice {}
