import { InvalidArgumentError } from 'commander'

/** A commander parser for an integer option within bounds. */
export function intOption (name: string, min: number, max: number): (value: string) => number {
  return (value: string) => {
    if (!/^-?\d+$/.test(value)) throw new InvalidArgumentError(`${name} must be an integer.`)
    const n = Number(value)
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be between ${min} and ${max}.`)
    return n
  }
}

export function numberOption (name: string, min: number, max: number): (value: string) => number {
  return (value: string) => {
    const n = Number(value)
    if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number.`)
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be between ${min} and ${max}.`)
    return n
  }
}
