//! What a release binary is, read from its ELF headers with the `object` crate: a 64-bit
//! little-endian executable, its CPU (`e_machine`), and whether it is dynamically linked (it
//! has a `PT_INTERP` program header naming the loader, e.g. glibc's `ld-linux-x86-64.so.2`).

use object::Endianness;
use object::elf::{ET_DYN, ET_EXEC, FileHeader64};
use object::read::elf::{FileHeader, ProgramHeader};

/// A binary's ELF facts that decide where it can run.
pub struct Elf {
    pub machine: u16,
    /// The program interpreter (dynamic loader) it asks for; None when statically linked.
    pub interpreter: Option<String>,
}

/// Reads the headers; an error says what the bytes are not.
pub fn inspect(bytes: &[u8]) -> Result<Elf, String> {
    let not = |what: &str| format!("not a 64-bit little-endian Linux executable ({what})");
    let header = FileHeader64::<Endianness>::parse(bytes).map_err(|e| not(&e.to_string()))?;
    let endian = header.endian().map_err(|e| not(&e.to_string()))?;
    if endian != Endianness::Little {
        return Err(not("big-endian"));
    }
    if !matches!(header.e_type(endian), ET_EXEC | ET_DYN) {
        return Err(not("not an executable"));
    }
    let mut interpreter = None;
    for segment in header
        .program_headers(endian, bytes)
        .map_err(|e| not(&e.to_string()))?
    {
        if let Some(path) = segment
            .interpreter(endian, bytes)
            .map_err(|e| not(&e.to_string()))?
        {
            interpreter = Some(String::from_utf8_lossy(path).into_owned());
        }
    }
    Ok(Elf {
        machine: header.e_machine(endian),
        interpreter,
    })
}
