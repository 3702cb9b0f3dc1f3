/**
 * The Java client of the kindling probe service: {@link io.kindling.client.KindlingClient}
 * connects to the service's unix socket, {@link io.kindling.client.Subscription} iterates a
 * stream's events and loss notices, and the {@link io.kindling.client.KindlingException}
 * subclasses tell its failures apart. The messages themselves are the generated classes of
 * {@code io.kindling.event.v1} and {@code io.kindling.probe.v1}.
 */
package io.kindling.client;
