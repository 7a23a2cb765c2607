// Stops a compilation below C++20 with one clear error; every C++ header of
// datatier includes this first.
#pragma once

#if __cplusplus < 202002L
#error "datatier needs C++20: compile with -std=c++20 or later (CMake: link datatier::datatier, which asks for cxx_std_20)"
// Ends the compilation here, before the rest of the header adds errors of its own.
#include <datatier-needs-cxx20>
#endif
