# datatier_set_warnings(target): the project's warning set, errors with DATATIER_WERROR
# (on in the developer presets and CI, off otherwise).
function(datatier_set_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow
                              -Wnon-virtual-dtor -Wold-style-cast -Woverloaded-virtual>
    $<$<COMPILE_LANGUAGE:C>:-Wall -Wextra -Wpedantic -Wconversion -Wshadow>
    $<$<BOOL:${DATATIER_WERROR}>:-Werror>)
endfunction()
