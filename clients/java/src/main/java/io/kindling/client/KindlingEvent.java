package io.kindling.client;

import com.google.protobuf.Timestamp;
import io.kindling.event.v1.Event;
import java.time.Instant;

/**
 * An event of a stream, with the node and boot time of the response that
 * carried it.
 *
 * @param event the event, as the service sent it
 * @param nodeName the node the event came from
 * @param bootTime when that node booted (wall clock)
 */
public record KindlingEvent(Event event, String nodeName, Timestamp bootTime)
    implements StreamItem {
  /** The event's wall-clock time: the boot time plus its timestamp_ns. */
  public Instant time() {
    return WallClock.time(bootTime, event);
  }

  /** The event's position in its stream, from 1. */
  public long seq() {
    return event.getSeq();
  }
}
