package io.kindling.client;

import com.google.protobuf.Timestamp;
import io.kindling.event.v1.Event;
import java.time.Instant;

/**
 * Wall-clock time of events. An event's timestamp_ns counts nanoseconds since
 * the node booted (CLOCK_BOOTTIME); its wall-clock time is the node's boot
 * time, which every SubscribeResponse and GetInfoResponse carries, plus that.
 */
public final class WallClock {
  private WallClock() {}

  /** The wall-clock time of {@code timestampNs} nanoseconds after {@code bootTime}. */
  public static Instant time(Timestamp bootTime, long timestampNs) {
    // timestamp_ns is a uint64; boot-relative values stay far below 2^63.
    return Instant.ofEpochSecond(bootTime.getSeconds(), bootTime.getNanos()).plusNanos(timestampNs);
  }

  /** The wall-clock time of {@code event}, on a node that booted at {@code bootTime}. */
  public static Instant time(Timestamp bootTime, Event event) {
    return time(bootTime, event.getTimestampNs());
  }
}
