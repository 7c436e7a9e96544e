/** One line (or set of dots, or bars) of a LineChart. */
export interface Series {
  label: string;
  /** A CSS class that sets the colour (stroke/fill). */
  tone: string;
  /** [x, y] with x in the chart's x domain. */
  points: readonly (readonly [number, number])[];
  /** Dots instead of a line (for irregular samples such as round trips). */
  dots?: boolean;
}
