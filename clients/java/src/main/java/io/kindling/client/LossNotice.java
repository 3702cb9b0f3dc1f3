package io.kindling.client;

import io.kindling.probe.v1.Loss;
import io.kindling.probe.v1.LossReason;

/**
 * Events the stream did not receive, and why. When the events had been given
 * sequence numbers (a full subscriber queue, a resume too late), the notice
 * names their range: the gap in the events' {@code seq} that it explains.
 *
 * @param reason where the events were lost
 * @param count how many; for the kernel's buffer, every event it dropped,
 *     before any filtering
 * @param firstSeq the sequence number of the first lost event, or 0 when the
 *     lost events had no numbers yet
 */
public record LossNotice(LossReason reason, long count, long firstSeq) implements StreamItem {
  static LossNotice of(Loss loss) {
    return new LossNotice(loss.getReason(), loss.getCount(), loss.getFirstSeq());
  }

  /** Whether the lost events had sequence numbers ({@link #firstSeq()} to {@link #lastSeq()}). */
  public boolean hasRange() {
    return firstSeq != 0;
  }

  /** The sequence number of the last lost event; meaningful when {@link #hasRange()}. */
  public long lastSeq() {
    return firstSeq + count - 1;
  }

  @Override
  public String toString() {
    String range = hasRange() ? " (seq " + firstSeq + "-" + lastSeq() + ")" : "";
    return "lost " + count + " events" + range + ": " + reason;
  }
}
